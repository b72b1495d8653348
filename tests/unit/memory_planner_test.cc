#include <gtest/gtest.h>

#include "frontend/onnx/onnx_importer.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"
#include "passes/shape_inference.h"
#include "planner/arena_limit.h"
#include "planner/memory_planner.h"
#include "runtime/cpu_backend.h"
#include "runtime/graph_checks.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

// No two values alive at the same time may share a byte — except a fused
// conv's output and the Sum input it accumulates into in place.
void expect_no_live_overlap(const Graph& graph, const MemoryPlan& plan) {
  const size_t count = graph.values.size();
  std::vector<int64_t> first(count, -1), last(count, -1), sum_of(count, -1);
  for (const Node& node : graph.nodes) {
    if (node.inputs.size() > 3 && node.inputs[3] != kNoValue)
      sum_of[static_cast<size_t>(node.outputs[0])] = node.inputs[3];
  }
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (ValueId out : graph.nodes[n].outputs) {
      if (out != kNoValue) first[static_cast<size_t>(out)] = last[static_cast<size_t>(out)] = static_cast<int64_t>(n);
    }
    for (ValueId in : graph.nodes[n].inputs) {
      if (in != kNoValue) last[static_cast<size_t>(in)] = static_cast<int64_t>(n);
    }
  }
  auto bytes = [&](size_t v) {
    return shape_size(graph.values[v].shape) * static_cast<int64_t>(dtype_size(graph.values[v].dtype));
  };
  for (size_t a = 0; a < count; ++a) {
    if (plan.value_offsets[a] < 0) continue;
    EXPECT_EQ(plan.value_offsets[a] % kArenaAlignment, 0);
    EXPECT_LE(plan.value_offsets[a] + bytes(a), plan.arena_bytes);
    for (size_t b = a + 1; b < count; ++b) {
      if (plan.value_offsets[b] < 0) continue;
      const bool live_together = first[a] <= last[b] && first[b] <= last[a];
      const bool share_bytes = plan.value_offsets[a] < plan.value_offsets[b] + bytes(b) &&
                               plan.value_offsets[b] < plan.value_offsets[a] + bytes(a);
      const bool in_place = sum_of[b] == static_cast<int64_t>(a) || sum_of[a] == static_cast<int64_t>(b);
      EXPECT_FALSE(live_together && share_bytes && !in_place)
          << graph.values[a].name << " and " << graph.values[b].name;
    }
  }
}

TEST(MemoryPlanner, ResNet50ReusesMemoryWithoutLiveOverlap) {
  const std::string path = test_model_path("resnet50.onnx");
  KESTREL_REQUIRE_FILE(path);
  auto imported = import_onnx_file(path);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  Graph graph = std::move(imported).value();
  ASSERT_TRUE(set_input_shapes(graph, {{"input", {1, 3, 224, 224}}}).ok());
  ASSERT_TRUE(optimize_graph(graph).ok());
  auto plan = plan_memory(graph, cpu_sums_in_place);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  expect_no_live_overlap(graph, *plan);
  int in_place = 0;
  for (const Node& node : graph.nodes) {
    if (node.inputs.size() > 3 && node.inputs[3] != kNoValue) {
      in_place += plan->value_offsets[static_cast<size_t>(node.inputs[3])] ==
                  plan->value_offsets[static_cast<size_t>(node.outputs[0])];
    }
  }
  EXPECT_EQ(in_place, 16) << "every ResNet-50 residual Add accumulates in place";
  const int64_t total = total_activation_bytes(graph);
  std::printf("resnet50 batch 1: arena %.2f MB, all activations %.2f MB\n", plan->arena_bytes / 1e6, total / 1e6);
  // Two 64x112x112 float maps (the stem's output and the max-pool input) bound it from below.
  EXPECT_GE(plan->arena_bytes, 64 * 112 * 112 * 4);
  EXPECT_LT(plan->arena_bytes * 4, total);
}

// x -> Relu -> a -> Reshape -> b -> Relu -> y, and (with `reread`) a read
// again after the Reshape.
Graph reshape_graph(bool reread) {
  Graph graph;
  auto value = [&](const std::string& name, Shape shape) {
    return graph.add_value({.name = name, .dtype = DType::kFloat32, .shape = std::move(shape), .shape_known = true});
  };
  const ValueId x = value("x", {2, 3, 4}), a = value("a", {2, 3, 4}), b = value("b", {6, 4});
  const ValueId c = value("c", {6, 4}), y = value("y", {6, 4});
  const ValueId shape = add_constant(graph, "shape", Tensor::from_vector<int64_t>({2}, {6, 4}));
  graph.inputs = {x};
  graph.nodes.push_back({.name = "relu", .op_type = "Relu", .inputs = {x}, .outputs = {a}});
  graph.nodes.push_back({.name = "reshape", .op_type = "Reshape", .inputs = {a, shape}, .outputs = {b}});
  graph.nodes.push_back({.name = "relu2", .op_type = "Relu", .inputs = {b}, .outputs = {c}});
  if (reread) {
    const ValueId a2 = value("a2", {6, 4});
    graph.nodes.push_back({.name = "reshape2", .op_type = "Reshape", .inputs = {a, shape}, .outputs = {a2}});
    graph.nodes.push_back({.name = "add", .op_type = "Add", .inputs = {c, a2}, .outputs = {y}});
  } else {
    graph.nodes.push_back({.name = "relu3", .op_type = "Relu", .inputs = {c}, .outputs = {y}});
  }
  graph.outputs = {y};
  return graph;
}

// A Reshape's output takes over its input's bytes when nothing reads the
// input later (the kernel then copies nothing), and the session's plan check
// accepts that; with a later reader they stay apart.
TEST(MemoryPlanner, ReshapeOutputSharesItsInputsBytesAtItsLastUse) {
  for (bool reread : {false, true}) {
    SCOPED_TRACE(reread ? "input read again" : "input's last use");
    const Graph graph = reshape_graph(reread);
    auto plan = plan_memory(graph);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    const int64_t a = plan->value_offsets[static_cast<size_t>(graph.find_value("a"))];
    const int64_t b = plan->value_offsets[static_cast<size_t>(graph.find_value("b"))];
    EXPECT_EQ(a == b, !reread);
    const Status checked = check_memory_plan(graph, *plan, default_max_arena_bytes());
    EXPECT_TRUE(checked.ok()) << checked.message();
  }
}

TEST(MemoryPlanner, RejectsDynamicShapes) {
  Graph graph;
  const ValueId x = graph.add_value({.name = "x", .dtype = DType::kFloat32, .shape = {-1, 4}, .shape_known = true});
  const ValueId y = graph.add_value({.name = "y", .dtype = DType::kFloat32, .shape = {-1, 4}, .shape_known = true});
  graph.inputs = {x};
  graph.nodes.push_back({.name = "relu", .op_type = "Relu", .inputs = {x}, .outputs = {y}});
  graph.outputs = {y};
  EXPECT_FALSE(plan_memory(graph).ok());
}

}  // namespace
}  // namespace kestrel::testing
