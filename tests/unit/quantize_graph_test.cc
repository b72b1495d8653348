// The quantizer end to end on the bundled CNN (convs, a residual Sum, MaxPool,
// GlobalAveragePool, Gemm): calibration through the FP32 session, the
// rewritten graph's structure, the int8 fast path against the int8
// reference kernels, and the int8 model against the FP32 one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include <set>

#include "format/model_file.h"
#include "frontend/onnx/onnx_importer.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "kernels/channel_ops.h"
#include "kernels/quantized_conv.h"
#include "onnx_test_models.h"
#include "passes/assign_layout.h"
#include "passes/compile.h"
#include "passes/passes.h"
#include "passes/shape_inference.h"
#include "quant/calibrator.h"
#include "quant/quantize_graph.h"
#include "runtime/cpu_backend.h"
#include "runtime/interpreter.h"
#include "runtime/session.h"
#include "test_paths.h"
#include "test_seed.h"
#include "unit/kernel_test_util.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

constexpr int64_t kBatch = 16;

std::string model_path() { return source_path("models/fmnist_cnn.onnx"); }

// kBatch preprocessed Fashion-MNIST images starting at `first` (train or test set).
Tensor fmnist_batch(bool train, int64_t first) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string images = dir + (train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz");
  auto dataset = open_dataset(images, "", first + kBatch);
  KESTREL_CHECK_OK(dataset);
  auto spec = read_preprocess_file(source_path("models/fmnist_cnn.preprocess.json"));
  KESTREL_CHECK_OK(spec);
  Tensor batch(DType::kFloat32, {kBatch, 1, 28, 28});
  for (int64_t i = 0; i < kBatch; ++i) {
    auto example = (*dataset)->get(first + i);
    KESTREL_CHECK_OK(example);
    EXPECT_TRUE(preprocess_image(*spec, example->image, batch.data<float>() + i * 28 * 28).ok());
  }
  return batch;
}

Graph optimized_model() {
  auto imported = import_onnx_file(model_path());
  EXPECT_TRUE(imported.ok()) << imported.status().message();
  Graph graph = std::move(imported).value();
  EXPECT_TRUE(set_input_shapes(graph, {{"input", {kBatch, 1, 28, 28}}}).ok());
  EXPECT_TRUE(optimize_graph(graph).ok());
  return graph;
}

std::map<std::string, TensorStats> calibrate_on_train_images(const Graph& graph, const QuantConfig& config) {
  auto calibrator = Calibrator::create(graph, tensors_to_calibrate(graph, config), 1);
  KESTREL_CHECK_OK(calibrator);
  for (int64_t first = 0; first < 4 * kBatch; first += kBatch) {
    const Tensor batch = fmnist_batch(true, first);
    std::memcpy((*calibrator)->input().raw_data(), batch.raw_data(), batch.nbytes());
    EXPECT_TRUE((*calibrator)->run(kBatch).ok());
  }
  EXPECT_EQ((*calibrator)->images(), 4 * kBatch);
  return (*calibrator)->stats();
}

std::vector<float> run_session(const Graph& graph, const Tensor& input, bool pack) {
  auto lowered = lower_for_cpu(graph);
  KESTREL_CHECK_OK(lowered);
  if (pack) {
    EXPECT_TRUE(pack_weights_for_cpu(lowered->graph).ok());
    lowered->plan.value_offsets.resize(lowered->graph.values.size(), -1);
  }
  auto session = Session::create(std::make_shared<const Graph>(lowered->graph), lowered->plan, {.threads = 1});
  KESTREL_CHECK_OK(session);
  auto outputs = (*session)->run({{"input", input}});
  KESTREL_CHECK_OK(outputs);
  return std::vector<float>(outputs->at(0).data<float>(), outputs->at(0).data<float>() + outputs->at(0).size());
}

int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

TEST(QuantizeGraph, BundledCnnStructure) {
  KESTREL_REQUIRE_FILE(model_path());
  Graph graph = optimized_model();
  const QuantConfig config;
  const auto stats = calibrate_on_train_images(graph, config);
  auto summary = quantize_graph(graph, stats, config);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->quantized.size(), 6u);  // every conv
  EXPECT_EQ(count_ops(graph, "QFusedConv"), 6);
  EXPECT_EQ(count_ops(graph, "FusedConv"), 0);
  // One QuantizeLinear at the input and no DequantizeLinear: nothing between
  // consecutive int8 layers, and the last conv, read only by the float
  // global pooling, writes float32 itself.
  EXPECT_EQ(count_ops(graph, "QuantizeLinear"), 1);
  EXPECT_EQ(count_ops(graph, "DequantizeLinear"), 0);
  for (const Node& node : graph.nodes) {
    if (node.op_type == "MaxPool") {
      EXPECT_EQ(graph.value(node.inputs[0]).dtype, DType::kUInt8) << node.name;
    }
    if (node.op_type != "QFusedConv") continue;
    const Value& out = graph.value(node.outputs[0]);
    if (node.name == "/stage3/stage3.0/stage3.0.0/Conv") {
      EXPECT_EQ(out.dtype, DType::kFloat32);
      continue;
    }
    // The other convs end in ReLU, so their outputs are uint8 with zero point 0.
    EXPECT_EQ(out.dtype, DType::kUInt8) << node.name;
    ASSERT_TRUE(out.quant.has_value()) << node.name;
    EXPECT_GT(out.quant->scales[0], 0.0f);
    EXPECT_EQ(graph.value(node.inputs[1]).dtype, DType::kInt8);
    EXPECT_EQ(graph.value(node.inputs[1]).quant->scales.size(), static_cast<size_t>(out.shape[1]));  // per channel
    EXPECT_EQ(graph.value(node.inputs[2]).dtype, DType::kInt32);
  }
}

TEST(QuantizeGraph, FastKernelsMatchReferenceKernels) {
  KESTREL_REQUIRE_FILE(model_path());
  Graph graph = optimized_model();
  const auto stats = calibrate_on_train_images(graph, {});
  ASSERT_TRUE(quantize_graph(graph, stats, {}).ok());
  const Tensor input = fmnist_batch(false, 0);
  auto reference = Interpreter::create(std::make_shared<const Graph>(graph));
  ASSERT_TRUE(reference.ok()) << reference.status().message();
  auto expected = reference->run({{"input", input}});
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  for (bool pack : {false, true}) {
    SCOPED_TRACE(pack ? "packed weights" : "weights packed at load");
    const std::vector<float> actual = run_session(graph, input, pack);
    const Tensor& logits = expected->at(0);
    ASSERT_EQ(actual.size(), static_cast<size_t>(logits.size()));
    // Integer layers agree exactly except for rare ties rounded one step
    // apart (FMA); in logits that is far below 1 % of their range.
    float max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs(logits.data<float>()[i]));
      max_diff = std::max(max_diff, std::fabs(actual[i] - logits.data<float>()[i]));
    }
    EXPECT_LE(max_diff, 0.01f * max_ref);
  }
}

class QuantizeGraphMethod : public ::testing::TestWithParam<CalibrationMethod> {};

// Entropy (KL) calibration clips this model's input hard: normalized
// Fashion-MNIST pixels are a spike at the background value plus a long
// tail, and KL keeps the spike. Measured cosine 0.96-0.98; the other
// methods stay above 0.99.
double min_cosine(CalibrationMethod method) { return method == CalibrationMethod::kEntropy ? 0.95 : 0.99; }
int max_disagreements(CalibrationMethod method) { return method == CalibrationMethod::kEntropy ? 12 : 2; }

TEST_P(QuantizeGraphMethod, Int8PredictionsFollowFloat) {
  KESTREL_REQUIRE_FILE(model_path());
  Graph float_graph = optimized_model();
  Graph graph = float_graph;
  QuantConfig config;
  config.defaults.method = GetParam();
  const auto stats = calibrate_on_train_images(graph, config);
  ASSERT_TRUE(quantize_graph(graph, stats, config).ok());
  int agree = 0, total = 0;
  for (int64_t first = 0; first < 4 * kBatch; first += kBatch) {
    const Tensor input = fmnist_batch(false, first);
    const std::vector<float> fp32 = run_session(float_graph, input, false);
    const std::vector<float> int8 = run_session(graph, input, true);
    double dot = 0, norm_a = 0, norm_b = 0;
    for (size_t i = 0; i < fp32.size(); ++i)
      dot += fp32[i] * int8[i], norm_a += fp32[i] * fp32[i], norm_b += int8[i] * int8[i];
    EXPECT_GT(dot / std::sqrt(norm_a * norm_b), min_cosine(GetParam())) << "cosine similarity of the logits";
    for (int64_t b = 0; b < kBatch; ++b) {
      agree += argmax(&fp32[b * 10], 10) == argmax(&int8[b * 10], 10);
      ++total;
    }
  }
  EXPECT_GE(agree, total - max_disagreements(GetParam()))
      << "int8 top-1 differs from FP32 on " << total - agree << " of " << total << " images";
}

INSTANTIATE_TEST_SUITE_P(AllMethods, QuantizeGraphMethod,
                         ::testing::Values(CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                                           CalibrationMethod::kEntropy, CalibrationMethod::kMse),
                         [](const auto& info) { return std::string(calibration_method_name(info.param)); });

TEST(QuantizeGraph, ConfigKeepsALayerInFloat) {
  KESTREL_REQUIRE_FILE(model_path());
  Graph graph = optimized_model();
  auto config = parse_quant_config(
      R"({"overrides": [{"node": "/stage2/stage2.2/conv2/conv2.0/Conv", "precision": "fp32"}]})", "test.json");
  ASSERT_TRUE(config.ok()) << config.status().message();
  const auto stats = calibrate_on_train_images(graph, *config);
  auto summary = quantize_graph(graph, stats, *config);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->quantized.size(), 5u);
  ASSERT_EQ(summary->kept_float.size(), 1u);
  EXPECT_EQ(summary->kept_float[0].first, "/stage2/stage2.2/conv2/conv2.0/Conv");
  EXPECT_EQ(count_ops(graph, "FusedConv"), 1);
  // The conv before it writes float32 directly (its only reader is float);
  // the residual is dequantized; MaxPool then runs in float and the next
  // conv quantizes its output (besides the input's QuantizeLinear).
  EXPECT_EQ(count_ops(graph, "DequantizeLinear"), 1);
  EXPECT_EQ(count_ops(graph, "QuantizeLinear"), 2);
  const Node* before = nullptr;
  for (const Node& node : graph.nodes) {
    if (node.name == "/stage2/stage2.2/conv1/conv1.0/Conv") before = &node;
  }
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(graph.value(before->outputs[0]).dtype, DType::kFloat32);
  const Tensor input = fmnist_batch(false, 0);
  auto reference = Interpreter::create(std::make_shared<const Graph>(graph));
  ASSERT_TRUE(reference.ok());
  EXPECT_TRUE(reference->run({{"input", input}}).ok());
}

// Exporters share one initializer among layers whose values are equal
// (PyTorch does, for freshly initialized biases): each layer gets its own
// quantized copy, under a unique name, and the file writer accepts it.
TEST(QuantizeGraph, SharedFloatConstantsGetUniqueQuantizedCopies) {
  KESTREL_REQUIRE_FILE(model_path());
  Graph graph = optimized_model();
  Node* first = nullptr;
  Node* second = nullptr;
  for (Node& node : graph.nodes) {
    if (node.name == "/stage1/stage1.0/stage1.0.0/Conv") first = &node;
    if (node.name == "/stage1/stage1.2/stage1.2.0/Conv") second = &node;
  }
  ASSERT_TRUE(first && second);
  second->inputs[2] = first->inputs[2];  // both [32]
  const auto stats = calibrate_on_train_images(graph, {});
  ASSERT_TRUE(quantize_graph(graph, stats, {}).ok());
  std::set<std::string> names;
  for (const Value& value : graph.values) {
    if (!value.name.empty()) {
      EXPECT_TRUE(names.insert(value.name).second) << "duplicate value name " << value.name;
    }
  }
  auto lowered = lower_for_cpu(graph);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  ASSERT_TRUE(pack_weights_for_cpu(lowered->graph).ok());
  lowered->plan.value_offsets.resize(lowered->graph.values.size(), -1);
  ModelFile file{.graph = std::move(lowered->graph), .plan = std::move(lowered->plan)};
  EXPECT_TRUE(serialize_model(file).ok()) << serialize_model(file).status().message();
}

TEST(QuantizeGraph, MissingStatisticsIsAnError) {
  KESTREL_REQUIRE_FILE(model_path());
  Graph graph = optimized_model();
  auto summary = quantize_graph(graph, {}, {});
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("no calibration statistics for tensor 'input'"), std::string::npos)
      << summary.status().message();
}

// Random normal inputs of the models built in code, batch 2.
Tensor random_input(uint32_t seed, const Shape& shape = {2, 8, 6, 6}) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor x(DType::kFloat32, shape);
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = normal(rng);
  return x;
}

// `model` imported with input "x" of `shape`, optimized.
Graph optimized_built_model(const onnx::ModelProto& model, const Shape& shape) {
  std::string bytes;
  model.SerializeToString(&bytes);
  auto imported = import_onnx_bytes(bytes, ".", "test model");
  EXPECT_TRUE(imported.ok()) << imported.status().message();
  Graph graph = std::move(imported).value();
  const Status shaped = set_input_shapes(graph, {{"x", shape}});
  EXPECT_TRUE(shaped.ok()) << shaped.message();
  const Status optimized = optimize_graph(graph);
  EXPECT_TRUE(optimized.ok()) << optimized.message();
  return graph;
}

Graph optimized_se_model() { return optimized_built_model(make_squeeze_excitation_model(), {2, 8, 6, 6}); }

// Calibrates `graph` (input "x") on four random batches of `shape`.
std::map<std::string, TensorStats> calibrate_on_random_inputs(const Graph& graph, const Shape& shape) {
  auto calibrator = Calibrator::create(graph, tensors_to_calibrate(graph, {}), 1);
  KESTREL_CHECK_OK(calibrator);
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    const Tensor batch = random_input(seed, shape);
    std::memcpy((*calibrator)->input().raw_data(), batch.raw_data(), batch.nbytes());
    EXPECT_TRUE((*calibrator)->run(shape[0]).ok());
  }
  return (*calibrator)->stats();
}

// The largest |want - got| over the largest |want|.
float relative_max_error(const Tensor& want, const Tensor& got) {
  EXPECT_EQ(want.shape(), got.shape());
  float max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < want.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(want.data<float>()[i]));
    max_diff = std::max(max_diff, std::fabs(want.data<float>()[i] - got.data<float>()[i]));
  }
  return max_diff / max_ref;
}

// Runs `graph` on "x" through the reference interpreter and, lowered, through
// a session of fast kernels.
std::pair<Tensor, Tensor> reference_and_session_outputs(const Graph& graph, const Tensor& input) {
  auto reference = Interpreter::create(std::make_shared<const Graph>(graph));
  KESTREL_CHECK_OK(reference);
  auto expected = reference->run({{"x", input}});
  KESTREL_CHECK_OK(expected);
  auto lowered = lower_for_cpu(graph);
  KESTREL_CHECK_OK(lowered);
  auto session = Session::create(std::make_shared<const Graph>(lowered->graph), lowered->plan, {.threads = 1});
  KESTREL_CHECK_OK(session);
  auto actual = (*session)->run({{"x", input}});
  KESTREL_CHECK_OK(actual);
  return {expected->at(0), actual->at(0)};
}

// `model`'s output on the reference interpreter, unoptimized, at input x of `shape`.
Tensor unoptimized_reference_output(const onnx::ModelProto& model, const Shape& shape, const Tensor& input) {
  std::string bytes;
  model.SerializeToString(&bytes);
  auto plain = import_onnx_bytes(bytes, ".", "test model");
  KESTREL_CHECK_OK(plain);
  EXPECT_TRUE(set_input_shapes(*plain, {{"x", shape}}).ok());
  EXPECT_TRUE(infer_shapes(*plain).ok());
  auto interpreter = Interpreter::create(std::make_shared<const Graph>(*plain));
  KESTREL_CHECK_OK(interpreter);
  auto outputs = interpreter->run({{"x", input}});
  KESTREL_CHECK_OK(outputs);
  return outputs->at(0);
}

// The whole squeeze-excitation block stays channels-last (FP32) and int8
// (INT8): the input's Reorder and QuantizeLinear are the only conversions.
TEST(QuantizeGraph, SqueezeExcitationHasNoIslands) {
  Graph graph = optimized_se_model();
  auto fp32 = lower_for_cpu(graph);
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  EXPECT_EQ(count_reorders(fp32->graph), 1);

  ASSERT_TRUE(quantize_graph(graph, calibrate_on_random_inputs(graph, {2, 8, 6, 6}), {}).ok());
  EXPECT_EQ(count_ops(graph, "QFusedConv"), 5);
  EXPECT_EQ(count_ops(graph, "QuantizeLinear"), 1);
  EXPECT_EQ(count_ops(graph, "DequantizeLinear"), 0);
  EXPECT_EQ(count_ops(graph, kQuantizedGlobalAveragePoolOp), 1);  // the head's pool reads the float block output
  for (const Node& node : graph.nodes) {
    if (node.op_type == kChannelScaleOp) {
      EXPECT_EQ(graph.value(node.inputs[0]).dtype, DType::kInt8);  // SiLU's output is signed
      EXPECT_EQ(graph.value(node.outputs[0]).dtype, DType::kInt8);
    }
    if (node.op_type == kQuantizedConvOp && node.name == "spatial") {
      EXPECT_EQ(graph.value(node.outputs[0]).dtype, DType::kInt8) << "SiLU runs in the conv's epilogue";
      EXPECT_GT(node.attrs.get_float(kPostScaleAttr, 0.0f), 1.0f);
    }
  }
  auto int8 = lower_for_cpu(graph);
  ASSERT_TRUE(int8.ok()) << int8.status().message();
  EXPECT_EQ(count_reorders(int8->graph), 1);

  // Fast kernels against the reference ones on a fresh input. oneDNN's exp
  // (SiLU, Sigmoid) differs from std::exp by ulps: a rare int8 value one step
  // away, far below 2 % of the logits' range.
  const auto [expected, actual] = reference_and_session_outputs(graph, random_input(99));
  EXPECT_LE(relative_max_error(expected, actual), 0.02f);
}

// Channel Concats of quantized convs run on int8 (QConcat: every input conv
// writes on the Concat output's grid), and so do the MaxPools around them: one
// QuantizeLinear at the input, no DequantizeLinear, one Reorder.
TEST(QuantizeGraph, ConcatOfConvBranchesHasNoIslands) {
  const Shape shape = {2, 8, 8, 8};
  Graph graph = optimized_built_model(make_concat_branches_model(), shape);
  const Graph fp32_graph = graph;
  auto fp32 = lower_for_cpu(graph);
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  EXPECT_EQ(count_reorders(fp32->graph), 1);

  const auto stats = calibrate_on_random_inputs(graph, shape);
  EXPECT_TRUE(stats.count("cat1")) << "a Concat read only by a MaxPool is calibrated";
  ASSERT_TRUE(quantize_graph(graph, stats, {}).ok());
  EXPECT_EQ(count_ops(graph, "QFusedConv"), 8);
  EXPECT_EQ(count_ops(graph, "QuantizeLinear"), 1);
  EXPECT_EQ(count_ops(graph, "DequantizeLinear"), 0);
  int concats = 0;
  for (const Node& node : graph.nodes) {
    if (node.op_type == "MaxPool") {
      EXPECT_EQ(graph.value(node.inputs[0]).dtype, DType::kUInt8) << node.name;
    }
    if (node.op_type != kQuantizedConcatOp) continue;
    ++concats;
    const Value& out = graph.value(node.outputs[0]);
    ASSERT_EQ(out.dtype, DType::kUInt8) << node.name;
    ASSERT_TRUE(out.quant.has_value());
    EXPECT_EQ(node.attrs.get_floats(kInputScalesAttr), std::vector<float>(node.inputs.size(), 1.0f)) << node.name;
    for (ValueId in : node.inputs) {
      const Value& value = graph.value(in);
      EXPECT_EQ(value.dtype, out.dtype) << value.name;
      ASSERT_TRUE(value.quant.has_value()) << value.name;
      EXPECT_EQ(value.quant->scales[0], out.quant->scales[0]) << value.name << " is on " << out.name << "'s grid";
    }
  }
  EXPECT_EQ(count_ops(graph, "Concat"), 0);
  EXPECT_EQ(concats, 2);
  auto int8 = lower_for_cpu(graph);
  ASSERT_TRUE(int8.ok()) << int8.status().message();
  EXPECT_EQ(count_reorders(int8->graph), 1);

  const Tensor input = random_input(99, shape);
  const auto [expected, actual] = reference_and_session_outputs(graph, input);
  EXPECT_LE(relative_max_error(expected, actual), 0.02f) << "fast kernels against the reference ones";
  const auto [fp32_logits, unused] = reference_and_session_outputs(fp32_graph, input);
  EXPECT_LE(relative_max_error(fp32_logits, actual), 0.05f) << "INT8 against FP32";
}

// ShuffleNet's unit: the shape arithmetic on a dynamic batch folds, the
// Reshape -> Transpose -> Reshape shuffle becomes one ChannelShuffle, the
// head's ReduceMean a GlobalAveragePool, and the
// channel Slices, the shuffle and the Concat stay channels-last (FP32) and
// int8 (INT8): one Reorder, one QuantizeLinear, no DequantizeLinear. The
// Concat's kept half comes from the stem's grid and is requantized to the
// Concat's; the branch conv writes on it.
TEST(QuantizeGraph, ChannelShuffleUnitHasNoIslands) {
  const Shape shape = {2, 8, 6, 6};
  const onnx::ModelProto model = make_channel_shuffle_model();
  Graph graph = optimized_built_model(model, shape);
  EXPECT_EQ(count_ops(graph, kChannelShuffleOp), 1);
  EXPECT_EQ(count_ops(graph, "Shape"), 0);
  EXPECT_EQ(count_ops(graph, "Transpose"), 0);
  EXPECT_EQ(count_ops(graph, "Reshape"), 0);
  EXPECT_EQ(count_ops(graph, "ReduceMean"), 0) << "the head's mean over H and W is a GlobalAveragePool";
  EXPECT_EQ(count_ops(graph, "FusedGemm"), 1) << "its Flatten folds into the classifier";
  auto fp32 = lower_for_cpu(graph);
  ASSERT_TRUE(fp32.ok()) << fp32.status().message();
  EXPECT_EQ(count_reorders(fp32->graph), 1);

  // FP32 against the unoptimized model on the reference interpreter.
  const Tensor input = random_input(99, shape);
  const Tensor unoptimized = unoptimized_reference_output(model, shape, input);
  const auto [optimized_reference, fp32_fast] = reference_and_session_outputs(graph, input);
  EXPECT_LE(relative_max_error(unoptimized, fp32_fast), 1e-5f);
  EXPECT_LE(relative_max_error(unoptimized, optimized_reference), 1e-5f);

  ASSERT_TRUE(quantize_graph(graph, calibrate_on_random_inputs(graph, shape), {}).ok());
  EXPECT_EQ(count_ops(graph, "QuantizeLinear"), 1);
  EXPECT_EQ(count_ops(graph, "DequantizeLinear"), 0);
  ASSERT_EQ(count_ops(graph, kQuantizedConcatOp), 1);
  for (const Node& node : graph.nodes) {
    if (node.op_type == "Slice" || node.op_type == kChannelShuffleOp) {
      EXPECT_EQ(graph.value(node.inputs[0]).dtype, DType::kUInt8) << node.name;
      EXPECT_EQ(graph.value(node.outputs[0]).dtype, DType::kUInt8) << node.name;
    }
    if (node.op_type != kQuantizedConcatOp) continue;
    const std::vector<float> scales = node.attrs.get_floats(kInputScalesAttr);
    ASSERT_EQ(scales.size(), 2u);
    EXPECT_NE(scales[0], 1.0f) << "the kept half is on the stem's grid";
    EXPECT_EQ(scales[1], 1.0f) << "the branch conv writes on the Concat's grid";
  }
  auto int8 = lower_for_cpu(graph);
  ASSERT_TRUE(int8.ok()) << int8.status().message();
  EXPECT_EQ(count_reorders(int8->graph), 1);
  const auto [expected, actual] = reference_and_session_outputs(graph, input);
  // Every int8 step is bit-exact; only the float head (conv, pool, Gemm) rounds differently.
  EXPECT_LE(relative_max_error(expected, actual), 1e-4f) << "fast kernels against the reference ones";
  EXPECT_LE(relative_max_error(unoptimized, actual), 0.05f) << "INT8 against FP32";
}

// A Transpose (0,2,3,1) of a channels-last tensor and (0,3,1,2) back only
// relabel its bytes (LayoutView, no copy), and a per-channel constant Mul is
// a ChannelAffine: the block keeps one layout, so the input's Reorder and the
// output's are the only ones. The compiled model matches the reference
// interpreter on the unoptimized model.
TEST(ChannelsLast, PermutedBlockNeedsNoReorders) {
  const Shape shape = {2, 8, 6, 6};
  const onnx::ModelProto model = make_permuted_block_model();
  Graph graph = optimized_built_model(model, shape);
  EXPECT_EQ(count_ops(graph, kChannelAffineOp), 1);
  auto lowered = lower_for_cpu(graph);
  ASSERT_TRUE(lowered.ok()) << lowered.status().message();
  EXPECT_EQ(count_ops(lowered->graph, "LayoutView"), 2);
  EXPECT_EQ(count_ops(lowered->graph, "Transpose"), 0);
  EXPECT_EQ(count_reorders(lowered->graph), 2);  // the input's and the output's

  const Tensor input = random_input(7, shape);
  const Tensor expected = unoptimized_reference_output(model, shape, input);
  const auto [optimized_reference, actual] = reference_and_session_outputs(graph, input);
  EXPECT_LE(relative_max_error(expected, actual), 1e-5f);
}

// ChannelShuffle's NHWC kernel (its 2-group fast path and the general one)
// against the reference kernel on NCHW, on random channel counts and group
// counts: x -> Relu (to NHWC through the input's Reorder) -> ChannelShuffle
// -> Relu -> y. Replay a failure with KESTREL_TEST_SEED=<seed>.
TEST(ChannelsLast, ChannelShuffleMatchesReference) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 12; ++trial) {
    const int64_t groups = uniform_int(rng, 1, 4), per_group = uniform_int(rng, 1, 9);
    const Shape shape = {uniform_int(rng, 1, 2), groups * per_group, uniform_int(rng, 2, 5), uniform_int(rng, 2, 5)};
    SCOPED_TRACE(str_cat(shape_string(shape), " groups ", groups));
    Graph graph;
    auto value = [&](const std::string& name) {
      return graph.add_value({.name = name, .dtype = DType::kFloat32, .shape = shape, .shape_known = true});
    };
    const ValueId x = value("x"), a = value("a"), b = value("b"), y = value("y");
    graph.inputs = {x};
    graph.outputs = {y};
    // Conv-free, so pin the NHWC choice on ChannelShuffle itself: its input
    // comes through a Reorder, its output goes back through one.
    graph.nodes.push_back({.name = "relu_in", .op_type = "Relu", .inputs = {x}, .outputs = {a}});
    Node shuffle{.name = "shuffle",
                 .op_type = kChannelShuffleOp,
                 .domain = std::string(kKestrelDomain),
                 .inputs = {a},
                 .outputs = {b}};
    shuffle.attrs.set(kGroupsAttr, groups);
    graph.nodes.push_back(std::move(shuffle));
    graph.nodes.push_back({.name = "relu_out", .op_type = "Relu", .inputs = {b}, .outputs = {y}});
    auto lowered = lower_for_cpu(graph);
    ASSERT_TRUE(lowered.ok()) << lowered.status().message();
    EXPECT_EQ(count_reorders(lowered->graph), 2) << "the shuffle runs channels-last";
    const Tensor input = random_input(static_cast<uint32_t>(trial + 1), shape);
    const auto [expected, actual] = reference_and_session_outputs(graph, input);
    EXPECT_EQ(relative_max_error(expected, actual), 0.0f);
  }
}

}  // namespace
}  // namespace kestrel::testing
