// The compiled CPU path (passes + NHWC layout + oneDNN kernels + memory plan)
// against the reference interpreter on the same real inputs.
#include <gtest/gtest.h>
#include <sched.h>

#include <cstring>
#include <random>

#include "frontend/onnx/onnx_importer.h"
#include "kernels/onednn/onednn_kernels.h"
#include "passes/assign_layout.h"
#include "passes/compile.h"
#include "passes/shape_inference.h"
#include "runtime/cpu_backend.h"
#include "runtime/interpreter.h"
#include "runtime/session.h"
#include "test_paths.h"
#include "unit/onnx_test_models.h"

namespace kestrel::testing {
namespace {

Tensor random_input(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Tensor tensor(DType::kFloat32, shape);
  for (int64_t i = 0; i < tensor.size(); ++i) tensor.data<float>()[i] = dist(rng);
  return tensor;
}

// Max |session - interpreter| over the outputs, relative to max |interpreter|.
void expect_session_matches_interpreter(const std::string& path, const Shape& input_shape, int threads,
                                        int max_reorders, bool pack_weights = false) {
  KESTREL_REQUIRE_FILE(path);
  auto imported = import_onnx_file(path);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  Graph graph = std::move(imported).value();
  const std::string input_name = graph.value(graph.inputs[0]).name;
  ASSERT_TRUE(set_input_shapes(graph, {{input_name, input_shape}}).ok());
  auto reference = Interpreter::create(std::make_shared<const Graph>(graph));
  ASSERT_TRUE(reference.ok());
  auto compiled = compile_for_cpu(graph);
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  EXPECT_LE(count_reorders(compiled->graph), max_reorders);
  if (pack_weights) {
    ASSERT_TRUE(pack_weights_for_cpu(compiled->graph).ok());
    compiled->plan.value_offsets.resize(compiled->graph.values.size(), -1);
    int packed = 0;
    for (const Node& node : compiled->graph.nodes) packed += node.attrs.has("packed_weights_layout");
    EXPECT_GT(packed, 0);
  }
  auto session = Session::create(std::make_shared<const Graph>(compiled->graph), compiled->plan, {.threads = threads});
  ASSERT_TRUE(session.ok()) << session.status().message();

  const uint32_t seed = 7;
  SCOPED_TRACE("seed " + std::to_string(seed));
  const Tensor input = random_input(input_shape, seed);
  auto expected = reference->run({{input_name, input}});
  auto actual = (*session)->run({{input_name, input}});
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  ASSERT_TRUE(actual.ok()) << actual.status().message();
  float max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < (*expected)[0].size(); ++i) {
    max_ref = std::max(max_ref, std::abs((*expected)[0].data<float>()[i]));
    max_diff = std::max(max_diff, std::abs((*expected)[0].data<float>()[i] - (*actual)[0].data<float>()[i]));
  }
  std::printf("%s: compiled vs reference max abs diff %g (max |ref| %g), %d reorders\n", path.c_str(), max_diff,
              max_ref, count_reorders(compiled->graph));
  EXPECT_LE(max_diff, 1e-3f * std::max(1.0f, max_ref));
  // A second run on the same buffers gives the same answer.
  auto again = (*session)->run({{input_name, input}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(std::memcmp((*again)[0].raw_data(), (*actual)[0].raw_data(), (*actual)[0].nbytes()), 0);
}

// Every session pins its threads; a later one must spread them over the
// process's CPUs again, not over the one CPU the first pinned the calling
// thread to (which put both threads of a second session on one core and
// made its creation 20x slower).
// The CPUs the test process may use, read before main() (so before any
// session pinned the main thread).
int affinity_count() {
  cpu_set_t mask;
  return sched_getaffinity(0, sizeof(mask), &mask) == 0 ? CPU_COUNT(&mask) : 0;
}
const int kCpusAtStart = affinity_count();

TEST(Session, ALaterSessionStillPinsItsThreadsToDistinctCores) {
  const std::string path = source_path("models/fmnist_cnn.onnx");
  KESTREL_REQUIRE_FILE(path);
  auto imported = import_onnx_file(path);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  Graph graph = std::move(imported).value();
  ASSERT_TRUE(set_input_shapes(graph, {{"input", {1, 1, 28, 28}}}).ok());
  auto compiled = compile_for_cpu(graph);
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  const auto shared = std::make_shared<const Graph>(compiled->graph);
  const int threads = 2;
  for (int round = 0; round < 3; ++round) {
    auto session = Session::create(shared, compiled->plan, {.threads = threads});
    ASSERT_TRUE(session.ok()) << session.status().message();
    const std::vector<int> cpus = onednn::worker_cpus(threads);
    ASSERT_EQ(cpus.size(), static_cast<size_t>(threads));
    EXPECT_EQ(onednn::allowed_cpu_count(), kCpusAtStart);
    if (kCpusAtStart >= threads) {
      EXPECT_NE(cpus[0], cpus[1]) << "session " << round << ": both threads on CPU " << cpus[0];
    }
  }
}

// A BatchNormalization no conv can absorb (here after a Relu, in DenseNet
// after a Concat) becomes Mul + Add, which must still compile and load:
// the Mul once carried a fused_nodes attribute that Mul does not take.
TEST(Session, StandaloneBatchNormCompilesAndMatchesReference) {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 4, 5, 5});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {1, 4, 5, 5});
  add_node(model, "Relu", {"x"}, {"r"}, "relu");
  add_float_initializer(model, "bn.scale", {4}, {0.5f, 1.0f, 1.5f, 2.0f});
  add_float_initializer(model, "bn.bias", {4}, {0.1f, -0.2f, 0.3f, 0.0f});
  add_float_initializer(model, "bn.mean", {4}, {0.0f, 0.5f, -0.5f, 1.0f});
  add_float_initializer(model, "bn.var", {4}, {1.0f, 2.0f, 0.5f, 1.5f});
  add_node(model, "BatchNormalization", {"r", "bn.scale", "bn.bias", "bn.mean", "bn.var"}, {"y"}, "bn");
  const std::string path = scratch_dir() + "/standalone_bn.onnx";
  save_model(model, path);
  expect_session_matches_interpreter(path, {1, 4, 5, 5}, 1, 2);
}

TEST(Session, BundledCnnMatchesReference) {
  expect_session_matches_interpreter(source_path("models/fmnist_cnn.onnx"), {4, 1, 28, 28}, 1, 2);
}

TEST(Session, BundledCnnWithPackedWeightsMatchesReference) {
  expect_session_matches_interpreter(source_path("models/fmnist_cnn.onnx"), {2, 1, 28, 28}, 1, 2,
                                     /*pack_weights=*/true);
}

TEST(Session, ResNet50MatchesReference) {
  expect_session_matches_interpreter(test_model_path("resnet50.onnx"), {1, 3, 224, 224}, 2, 2);
}

TEST(Session, MobileNetV2MatchesReference) {
  expect_session_matches_interpreter(test_model_path("mobilenet_v2.onnx"), {2, 3, 224, 224}, 2, 2);
}

// Two conv branches concatenated along channels (an Inception/Fire block),
// then a conv: the Concat runs in NHWC like its neighbours, so the graph
// keeps its one reorder at the input (and one back at the 4-D output).
TEST(Session, ChannelConcatRunsChannelsLast) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 3, 9, 9});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {1, 2, 9, 9});
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  auto weights = [&](int64_t count) {
    std::vector<float> values(static_cast<size_t>(count));
    for (float& v : values) v = dist(rng);
    return values;
  };
  add_float_initializer(model, "w1", {4, 3, 1, 1}, weights(12));
  add_float_initializer(model, "w2", {5, 3, 3, 3}, weights(135));
  add_float_initializer(model, "w3", {2, 9, 1, 1}, weights(18));
  add_node(model, "Conv", {"x", "w1"}, {"a"}, "branch1");
  auto* conv2 = add_node(model, "Conv", {"x", "w2"}, {"b0"}, "branch2");
  auto* pads = conv2->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  add_node(model, "Relu", {"b0"}, {"b"}, "relu2");
  auto* concat = add_node(model, "Concat", {"a", "b"}, {"c"}, "concat");
  auto* axis = concat->add_attribute();
  axis->set_name("axis");
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(1);
  add_node(model, "Conv", {"c", "w3"}, {"y"}, "head");
  const std::string path = scratch_dir() + "/concat.onnx";
  save_model(model, path);
  expect_session_matches_interpreter(path, {1, 3, 9, 9}, 1, 2);
}

}  // namespace
}  // namespace kestrel::testing
