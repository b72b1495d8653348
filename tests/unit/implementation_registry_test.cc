// The CPU backend's implementation registry: which implementation takes a
// node, the reason each earlier candidate gives when it refuses, and
// `kestrel inspect --explain`, which prints both.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <optional>
#include <string>

#include "cli_test_util.h"
#include "frontend/onnx/onnx_importer.h"
#include "kernels/cpu/depthwise_int8.h"
#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"
#include "onnx_test_models.h"
#include "passes/shape_inference.h"
#include "runtime/cpu_backend.h"
#include "runtime/implementation.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

void add_ints(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

void add_int(onnx::NodeProto* node, const std::string& name, int64_t value) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

// Nodes no fast implementation takes, each for its own reason, beside one
// conv that oneDNN takes:
//   conv_dynamic: weights are a graph input;  pool_ceil: AveragePool with
//   ceil_mode and count_include_pad;  square: Mul (no fast implementation);
//   conv: a plain conv.
onnx::ModelProto refused_nodes_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 3, 8, 8});
  add_tensor_value(model.mutable_graph()->mutable_input(), "w", {4, 3, 3, 3});
  add_tensor_value(model.mutable_graph()->mutable_output(), "dynamic", {1, 4, 6, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "pooled", {1, 3, 4, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "squared", {1, 3, 8, 8});
  add_tensor_value(model.mutable_graph()->mutable_output(), "convolved", {1, 4, 8, 8});
  add_node(model, "Conv", {"x", "w"}, {"dynamic"}, "conv_dynamic");
  auto* pool = add_node(model, "AveragePool", {"x"}, {"pooled"}, "pool_ceil");
  add_ints(pool, "kernel_shape", {3, 3});
  add_ints(pool, "strides", {2, 2});
  add_int(pool, "ceil_mode", 1);
  add_int(pool, "count_include_pad", 1);
  add_node(model, "Mul", {"x", "x"}, {"squared"}, "square");
  add_pattern_conv(model, "conv", "x", "convolved", 3, 4, 3, 0.5f);
  return model;
}

Graph imported(const onnx::ModelProto& model) {
  std::string bytes;
  model.SerializeToString(&bytes);
  auto graph = import_onnx_bytes(bytes, ".", "registry test model");
  EXPECT_TRUE(graph.ok()) << graph.status().message();
  Graph result = std::move(graph).value();
  const Status inferred = infer_shapes(result);
  EXPECT_TRUE(inferred.ok()) << inferred.message();
  return result;
}

const Node& node_named(const Graph& graph, const std::string& name) {
  for (const Node& node : graph.nodes) {
    if (node.name == name) return node;
  }
  ADD_FAILURE() << "no node " << name;
  return graph.nodes.front();
}

// An int8 conv node, [1, 32, 8, 8] uint8 -> [1, 32, 8, 8] uint8, 3x3 pad 1,
// with `group` groups.
Graph quantized_conv_graph(int64_t group) {
  Graph graph;
  const ValueId x =
      graph.add_value(Value{.name = "x", .dtype = DType::kUInt8, .shape = {1, 32, 8, 8}, .shape_known = true});
  Tensor weight(DType::kInt8, {32, 32 / group, 3, 3});
  for (int64_t i = 0; i < weight.size(); ++i) weight.data<int8_t>()[i] = static_cast<int8_t>(i % 7 - 3);
  const ValueId w = graph.add_value(
      Value{.name = "w", .dtype = DType::kInt8, .shape = weight.shape(), .shape_known = true, .constant = weight});
  const ValueId y =
      graph.add_value(Value{.name = "y", .dtype = DType::kUInt8, .shape = {1, 32, 8, 8}, .shape_known = true});
  Node node{.name = "qconv",
            .op_type = kQuantizedConvOp,
            .domain = std::string(kKestrelDomain),
            .inputs = {x, w},
            .outputs = {y}};
  node.attrs.set("group", group);
  node.attrs.set("kernel_shape", std::vector<int64_t>{3, 3});
  node.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  node.attrs.set(kOutputScalesAttr, std::vector<float>{0.01f});
  node.attrs.set(kOutputTypeAttr, std::string("uint8"));
  graph.nodes.push_back(std::move(node));
  graph.inputs = {x};
  graph.outputs = {y};
  return graph;
}

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ImplementationRegistry, EnvironmentPrefersAndDisablesImplementations) {
  if (!cpu::depthwise_int8_fast_path_available()) GTEST_SKIP() << "this CPU lacks AVX-512 VNNI or VBMI";
  const Graph depthwise = quantized_conv_graph(32), dense = quantized_conv_graph(1);
  const Node& dw = depthwise.nodes[0];
  // By default oneDNN runs it: Kestrel's depthwise kernel measures slower on Zen 4.
  EXPECT_EQ(choose_cpu_implementation(depthwise, dw).chosen->name, "onednn_conv");
  {
    const ScopedEnv prefer("KESTREL_PREFER", "kestrel_depthwise_int8");
    const ImplementationChoice choice = choose_cpu_implementation(depthwise, dw);
    EXPECT_EQ(choice.chosen->name, "kestrel_depthwise_int8");
    EXPECT_TRUE(choice.refused.empty());
    auto kernel = make_cpu_kernel(depthwise, dw);
    ASSERT_TRUE(kernel.ok()) << kernel.status().message();
    ASSERT_NE(*kernel, nullptr);
    EXPECT_EQ((*kernel)->implementation().rfind("kestrel depthwise_int8", 0), 0u) << (*kernel)->implementation();
    // Preferred, it still refuses what it cannot run, with the reason.
    const ImplementationChoice grouped = choose_cpu_implementation(dense, dense.nodes[0]);
    EXPECT_EQ(grouped.chosen->name, "onednn_conv");
    ASSERT_EQ(grouped.refused.size(), 1u);
    EXPECT_EQ(grouped.refused[0].first, "kestrel_depthwise_int8");
    EXPECT_EQ(grouped.refused[0].second, "not depthwise (one filter per input channel)");
  }
  {
    const ScopedEnv disable("KESTREL_DISABLE", "onednn_conv");
    const ImplementationChoice choice = choose_cpu_implementation(depthwise, dw);
    EXPECT_EQ(choice.chosen->name, "kestrel_depthwise_int8");
    ASSERT_EQ(choice.refused.size(), 1u);
    EXPECT_EQ(choice.refused[0].second, "disabled by KESTREL_DISABLE");
  }
  EXPECT_EQ(choose_cpu_implementation(depthwise, dw).chosen->name, "onednn_conv");
}

TEST(ImplementationRegistry, RefusalsNameTheirReason) {
  const Graph graph = imported(refused_nodes_model());
  const ImplementationChoice dynamic = choose_cpu_implementation(graph, node_named(graph, "conv_dynamic"));
  EXPECT_EQ(dynamic.chosen->name, kReferenceImplementation);
  ASSERT_EQ(dynamic.refused.size(), 1u);
  EXPECT_EQ(dynamic.refused[0].first, "onednn_conv");
  EXPECT_EQ(dynamic.refused[0].second, "weights are not a constant");

  const ImplementationChoice pool = choose_cpu_implementation(graph, node_named(graph, "pool_ceil"));
  EXPECT_EQ(pool.chosen->name, kReferenceImplementation);
  ASSERT_EQ(pool.refused.size(), 1u);
  EXPECT_EQ(pool.refused[0].first, "onednn_pool");
  EXPECT_NE(pool.refused[0].second.find("ceil_mode with count_include_pad"), std::string::npos);

  const ImplementationChoice square = choose_cpu_implementation(graph, node_named(graph, "square"));
  EXPECT_EQ(square.chosen->name, kReferenceImplementation);
  EXPECT_TRUE(square.refused.empty());

  const Node& conv = node_named(graph, "conv");
  const ImplementationChoice taken = choose_cpu_implementation(graph, conv);
  EXPECT_EQ(taken.chosen->name, "onednn_conv");
  EXPECT_TRUE(taken.refused.empty());
  // The compiler's decisions come from the same choice.
  EXPECT_TRUE(cpu_runs_nhwc(graph, conv));
  EXPECT_TRUE(cpu_sums_in_place(graph, conv));
  EXPECT_FALSE(cpu_runs_nhwc(graph, node_named(graph, "conv_dynamic")));
  auto kernel = make_cpu_kernel(graph, node_named(graph, "conv_dynamic"));
  ASSERT_TRUE(kernel.ok());
  EXPECT_EQ(*kernel, nullptr);  // the reference kernel runs it
}

TEST(ImplementationRegistry, InspectExplainPrintsChoicesAndRefusals) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/refused.onnx";
  save_model(refused_nodes_model(), path);
  const CliResult text = run_cli("inspect --model " + path + " --explain");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("onednn_conv (weights are not a constant)"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("onednn_pool (ceil_mode with count_include_pad"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("onednn brgconv"), std::string::npos) << text.output;  // the kernel oneDNN created

  const CliOutput json = run_cli_stdout("inspect --model " + path + " --explain --json", dir);
  ASSERT_EQ(json.exit_code, 0) << json.out << json.diagnostics;
  const auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << "not JSON on stdout: " << json.out;
  int refusals = 0, onednn = 0;
  for (const auto& node : parsed["nodes"]) {
    refusals += static_cast<int>(node["refused"].size());
    onednn += node["implementation"] == "onednn_conv";
  }
  EXPECT_EQ(refusals, 2);
  EXPECT_EQ(onednn, 1);
}

}  // namespace
}  // namespace kestrel::testing
