// Cross-layer equalization (quant/equalization.h) and bias correction
// (quant/bias_correction.h) on a MobileNetV2-style block whose channels
// differ in range by up to 100x: equalization keeps the FP32 function,
// narrows the weight ranges and lets per-tensor int8 weights work; bias
// correction removes the mean error per-tensor weights leave in the logits;
// both from `kestrel convert`, with their errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

#include "frontend/onnx/onnx_importer.h"
#include "io/npy.h"
#include "onnx_test_models.h"
#include "passes/compile.h"
#include "passes/passes.h"
#include "passes/shape_inference.h"
#include "quant/bias_correction.h"
#include "quant/calibrator.h"
#include "quant/equalization.h"
#include "quant/quantize_graph.h"
#include "runtime/session.h"
#include "test_paths.h"
#include "unit/cli_test_util.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

constexpr int64_t kBatch = 4;

void require_ok(const Status& status) {
  if (!status.ok()) throw std::runtime_error("test stopped: " + status.message());
}
constexpr int64_t kChannels = 16;

// Output channel o of a spread conv's weights scaled by 10^((o % 7 - 3) / 2): 0.03x to 30x.
float channel_factor(int64_t o) { return std::pow(10.0f, static_cast<float>(o % 7 - 3) / 2.0f); }

enum class Spread { kNone, kOutputs, kInverseInputs };

// A conv whose weights are scaled by channel_factor of their output channel
// (kOutputs), by its inverse for their input channel (kInverseInputs), or not.
void add_spread_conv(onnx::ModelProto& model, const std::string& name, const std::string& x, const std::string& y,
                     int64_t cin, int64_t cout, int64_t kernel, int64_t group, float seed, Spread spread,
                     int64_t pad = -1) {
  const int64_t per_group = cin / group;
  std::vector<float> w(static_cast<size_t>(cout * per_group * kernel * kernel)), b(static_cast<size_t>(cout));
  const int64_t row = per_group * kernel * kernel;
  const int64_t window = kernel * kernel;
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t k = 0; k < row; ++k) {
      const float factor = spread == Spread::kOutputs         ? channel_factor(o)
                           : spread == Spread::kInverseInputs ? 1.0f / channel_factor(k / window)
                                                              : 1.0f;
      w[static_cast<size_t>(o * row + k)] =
          std::sin(seed + 0.77f * static_cast<float>(o * row + k)) * 1.5f / std::sqrt(static_cast<float>(row)) * factor;
    }
    b[static_cast<size_t>(o)] = 0.2f * std::cos(seed + static_cast<float>(o));
  }
  add_float_initializer(model, name + ".w", {cout, per_group, kernel, kernel}, w);
  add_float_initializer(model, name + ".b", {cout}, b);
  auto* node = add_node(model, "Conv", {x, name + ".w", name + ".b"}, {y}, name);
  auto* pads = node->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(pad >= 0 ? pad : kernel / 2);
  auto* groups = node->add_attribute();
  groups->set_name("group");
  groups->set_type(onnx::AttributeProto::INT);
  groups->set_i(group);
}

// x [N,4,8,8] -> conv 1x1 (16) -> ReLU6 -> depthwise 3x3 (channels spread, as BN folding
// leaves them) -> ReLU6 -> conv 1x1 (8, undoing the spread)
//   -> GlobalAveragePool -> Flatten -> Gemm -> logits [N,5]
onnx::ModelProto make_depthwise_block_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 4, 8, 8});
  add_tensor_value(model.mutable_graph()->mutable_output(), "logits", {-1, 5});
  add_float_initializer(model, "zero", {}, {0.0f});
  add_float_initializer(model, "six", {}, {6.0f});
  add_spread_conv(model, "expand", "x", "e", 4, kChannels, 1, 1, 0.1f, Spread::kNone);
  add_node(model, "Clip", {"e", "zero", "six"}, {"e6"}, "expand_relu6");
  add_spread_conv(model, "depthwise", "e6", "d", kChannels, kChannels, 3, kChannels, 0.2f, Spread::kOutputs);
  add_node(model, "Clip", {"d", "zero", "six"}, {"d6"}, "depthwise_relu6");
  add_spread_conv(model, "project", "d6", "p", kChannels, 8, 1, 1, 0.3f, Spread::kInverseInputs);
  add_node(model, "GlobalAveragePool", {"p"}, {"pooled"}, "pool");
  add_node(model, "Flatten", {"pooled"}, {"flat"}, "flatten");
  add_test_classifier(model, "flat");
  return model;
}

// `model` imported and optimized at input x [kBatch, 4, 8, 8].
Graph optimized(const onnx::ModelProto& model, const std::string& label) {
  std::string bytes;
  model.SerializeToString(&bytes);
  auto imported = import_onnx_bytes(bytes, ".", label);
  KESTREL_CHECK_OK(imported);
  Graph graph = std::move(imported).value();
  require_ok(set_input_shapes(graph, {{"x", {kBatch, 4, 8, 8}}}));
  require_ok(optimize_graph(graph));
  return graph;
}

Graph optimized_block() { return optimized(make_depthwise_block_model(), "depthwise block"); }

// `batches` batches of uniform [0, 0.5) inputs.
SampleBatches random_samples(uint32_t seed, int batches) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(0.0f, 0.5f);
  SampleBatches samples;
  for (int b = 0; b < batches; ++b) {
    Tensor x(DType::kFloat32, {kBatch, 4, 8, 8});
    for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = uniform(rng);
    samples.batches.push_back(std::move(x));
    samples.counts.push_back(kBatch);
  }
  return samples;
}

QuantConfig per_tensor_config() {
  QuantConfig config;
  config.defaults.weights = WeightGranularity::kPerTensor;
  return config;
}

std::map<std::string, TensorStats> calibrate(const Graph& graph, const QuantConfig& config,
                                             const SampleBatches& samples) {
  auto calibrator = Calibrator::create(graph, tensors_to_calibrate(graph, config), 1);
  KESTREL_CHECK_OK(calibrator);
  for (const Tensor& batch : samples.batches) {
    std::memcpy((*calibrator)->input().raw_data(), batch.raw_data(), batch.nbytes());
    require_ok((*calibrator)->run(kBatch));
  }
  return (*calibrator)->stats();
}

// The logits of `graph` (quantized with `stats` when given) on every sample, concatenated.
std::vector<float> logits(Graph graph, const SampleBatches& samples,
                          const std::map<std::string, TensorStats>* stats = nullptr, const QuantConfig& config = {}) {
  if (stats != nullptr) require_ok(quantize_graph(graph, *stats, config).status());
  auto lowered = lower_for_cpu(std::move(graph));
  KESTREL_CHECK_OK(lowered);
  auto session =
      Session::create(std::make_shared<const Graph>(std::move(lowered->graph)), lowered->plan, {.threads = 1});
  KESTREL_CHECK_OK(session);
  std::vector<float> out;
  for (const Tensor& batch : samples.batches) {
    std::memcpy((*session)->input(0).raw_data(), batch.raw_data(), batch.nbytes());
    require_ok((*session)->run());
    const Tensor& y = (*session)->output(0);
    out.insert(out.end(), y.data<float>(), y.data<float>() + y.size());
  }
  return out;
}

double sqnr_db(const std::vector<float>& reference, const std::vector<float>& candidate) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    signal += static_cast<double>(reference[i]) * reference[i];
    noise += (static_cast<double>(reference[i]) - candidate[i]) * (static_cast<double>(reference[i]) - candidate[i]);
  }
  return 10 * std::log10(signal / std::max(noise, 1e-30));
}

TEST(CrossLayerEqualization, KeepsTheFloatFunctionAndNarrowsTheRanges) {
  const Graph graph = optimized_block();
  const SampleBatches samples = random_samples(1, 8);
  auto plan = plan_equalization(graph, samples, 1);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->pairs.size(), 2u);  // expand -> depthwise, depthwise -> project
  EXPECT_EQ(plan->images, 8 * kBatch);
  EXPECT_EQ(plan->pairs[0].first, "expand");
  EXPECT_EQ(plan->pairs[0].second, "depthwise");
  EXPECT_EQ(plan->pairs[1].first, "depthwise");
  EXPECT_EQ(plan->pairs[1].second, "project");
  int64_t held = 0;
  double widest_before = 0, widest_after = 0;  // of a first conv's channel weight ranges
  for (const EqualizedPair& pair : plan->pairs) {
    EXPECT_EQ(pair.channels, kChannels);
    widest_before = std::max(widest_before, pair.spread_before);
    widest_after = std::max(widest_after, pair.spread_after);
    held += pair.held;
  }
  EXPECT_GT(widest_before, 500.0);
  EXPECT_LT(widest_after, widest_before / 10);
  // The widest channels reach ReLU6's bound on these inputs: held at scale 1.
  EXPECT_GT(held, 0);

  Graph equalized = graph;
  ASSERT_TRUE(apply_equalization(equalized, *plan).ok());
  const std::vector<float> before = logits(graph, samples), after = logits(equalized, samples);
  ASSERT_EQ(before.size(), after.size());
  double largest = 0, worst = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    largest = std::max(largest, static_cast<double>(std::fabs(before[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(before[i] - after[i])));
  }
  EXPECT_LT(worst, 1e-4 * largest) << "equalization changed the FP32 logits by " << worst;
}

TEST(CrossLayerEqualization, MakesPerTensorWeightsWork) {
  const Graph graph = optimized_block();
  const SampleBatches samples = random_samples(2, 8);
  const QuantConfig config = per_tensor_config();
  const std::vector<float> reference = logits(graph, samples);
  const auto stats = calibrate(graph, config, samples);
  const double plain = sqnr_db(reference, logits(graph, samples, &stats, config));

  Graph equalized = graph;
  auto plan = plan_equalization(graph, samples, 1);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_TRUE(apply_equalization(equalized, *plan).ok());
  const auto equalized_stats = calibrate(equalized, config, samples);
  const double with = sqnr_db(reference, logits(equalized, samples, &equalized_stats, config));
  EXPECT_GT(with, plain + 6.0) << "logit SQNR " << plain << " dB without equalization, " << with << " dB with";
}

TEST(CrossLayerEqualization, RefusesAPlanForAnotherGraph) {
  const Graph graph = optimized_block();
  auto plan = plan_equalization(graph, random_samples(3, 2), 1);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  plan->pairs[0].first = "no_such_conv";
  Graph other = graph;
  const Status status = apply_equalization(other, *plan);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("no node 'no_such_conv'"), std::string::npos) << status.message();
}

// x [N,4,8,8] -> conv 3x3 (16, unpadded, channels spread) -> y [N,16,6,6]
Graph optimized_single_conv() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 4, 8, 8});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, kChannels, 6, 6});
  add_spread_conv(model, "conv", "x", "y", 4, kChannels, 3, 1, 0.4f, Spread::kOutputs, 0);
  return optimized(model, "single conv");
}

// Sum over channels of |mean over images and positions of (candidate - reference)|, for [N,C,H,W] outputs.
double channel_mean_error(const std::vector<float>& reference, const std::vector<float>& candidate, int64_t channels,
                          int64_t pixels) {
  std::vector<double> sums(static_cast<size_t>(channels), 0.0);
  for (size_t i = 0; i < reference.size(); ++i) {
    sums[static_cast<size_t>(static_cast<int64_t>(i) / pixels % channels)] += candidate[i] - reference[i];
  }
  double total = 0;
  const double per_channel = static_cast<double>(reference.size()) / static_cast<double>(channels);
  for (double s : sums) total += std::fabs(s) / per_channel;
  return total;
}

// Per-tensor weights round the 0.03x channels to a few codes, shifting their
// means; the correction computed from the input means removes that shift.
TEST(BiasCorrection, RemovesTheMeanShiftOfPerTensorWeights) {
  Graph graph = optimized_single_conv();
  const SampleBatches samples = random_samples(4, 8);
  const QuantConfig config = per_tensor_config();
  const std::vector<float> reference = logits(graph, samples);
  const auto stats = calibrate(graph, config, samples);
  const std::vector<float> before = logits(graph, samples, &stats, config);

  auto report = correct_biases(graph, stats, config, samples, 1);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->images, 8 * kBatch);
  ASSERT_EQ(report->layers.size(), 1u);
  EXPECT_EQ(report->layers[0].node, "conv");
  EXPECT_GT(report->layers[0].shift, 0.0);
  EXPECT_EQ(report->biases.count("conv"), 1u);
  const std::vector<float> after = logits(graph, samples, &stats, config);
  const double error_before = channel_mean_error(reference, before, kChannels, 36);
  const double error_after = channel_mean_error(reference, after, kChannels, 36);
  EXPECT_LT(error_after, error_before / 5) << "channel mean error " << error_before << " -> " << error_after;
  EXPECT_GT(report->logit_sqnr_after_db, report->logit_sqnr_before_db);
  EXPECT_NEAR(report->logit_sqnr_before_db, sqnr_db(reference, before), 1e-6);
  EXPECT_NEAR(report->logit_sqnr_after_db, sqnr_db(reference, after), 1e-6);
}

TEST(BiasCorrection, CorrectsEveryQuantizedConvOfABlock) {
  Graph graph = optimized_block();
  const SampleBatches samples = random_samples(6, 4);
  const auto stats = calibrate(graph, {}, samples);
  auto report = correct_biases(graph, stats, {}, samples, 1);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->layers.size(), 3u);
  EXPECT_EQ(report->layers[0].node, "expand");
  EXPECT_EQ(report->layers[1].node, "depthwise");
  EXPECT_EQ(report->layers[2].node, "project");
  EXPECT_TRUE(report->skipped.empty());
}

// --- kestrel convert ---

struct BlockFiles {
  std::string dir, model, calibration, per_tensor;
};

BlockFiles write_block_files() {
  BlockFiles files;
  files.dir = scratch_dir();
  files.model = files.dir + "/block.onnx";
  save_model(make_depthwise_block_model(), files.model);
  const SampleBatches samples = random_samples(5, 16);
  Tensor all(DType::kFloat32, {16 * kBatch, 4, 8, 8});
  for (size_t b = 0; b < samples.batches.size(); ++b) {
    std::memcpy(all.data<float>() + static_cast<int64_t>(b) * samples.batches[b].size(), samples.batches[b].raw_data(),
                samples.batches[b].nbytes());
  }
  files.calibration = files.dir + "/calibration.npy";
  require_ok(write_npy(files.calibration, all));
  files.per_tensor = files.dir + "/per_tensor.json";
  std::ofstream(files.per_tensor) << R"({"defaults": {"weights": "per_tensor"}})";
  return files;
}

TEST(ConvertEqualizationCli, PrintsWhatItDidAndAppliesTheFlagsFromTheConfig) {
  const BlockFiles f = write_block_files();
  const std::string base = "convert --model " + f.model + " --precision int8 --calibration-data " + f.calibration +
                           " --calibration-count 64 --calibration-batch 4";
  const CliResult both = run_cli(base + " --output " + f.dir + "/both.kestrel --quant-config " + f.per_tensor +
                                 " --cross-layer-equalization --bias-correction");
  ASSERT_EQ(both.exit_code, 0) << both.output;
  EXPECT_NE(both.output.find("cross-layer equalization: 2 conv pairs, 32 channels"), std::string::npos) << both.output;
  EXPECT_NE(both.output.find("bias correction: 3 convs on 64 calibration images"), std::string::npos) << both.output;

  // The same two steps from the quant config's keys.
  const std::string config = f.dir + "/steps.json";
  std::ofstream(config) << R"({"defaults": {"weights": "per_tensor"}, "bias_correction": true,
                               "cross_layer_equalization": true})";
  const CliResult from_config = run_cli(base + " --output " + f.dir + "/config.kestrel --quant-config " + config);
  ASSERT_EQ(from_config.exit_code, 0) << from_config.output;
  EXPECT_NE(from_config.output.find("cross-layer equalization: 2 conv pairs"), std::string::npos) << from_config.output;
  EXPECT_NE(from_config.output.find("bias correction: 3 convs"), std::string::npos) << from_config.output;

  // Equalization changes what calibration measures: a named cache made without it is stale.
  const std::string cache = f.dir + "/named.calib";
  ASSERT_EQ(run_cli(base + " --output " + f.dir + "/plain.kestrel --calibration-cache " + cache).exit_code, 0);
  expect_clean_error(run_cli(base + " --output " + f.dir + "/cle.kestrel --calibration-cache " + cache +
                             " --cross-layer-equalization"),
                     {cache, "calibration cache made for other inputs"});
}

// A model without depthwise convs has no pair: nothing changes, so the
// calibration cache made without the step is reused.
TEST(ConvertEqualizationCli, NoPairChangesNothing) {
  KESTREL_REQUIRE_FILE(source_path("models/fmnist_cnn.onnx"));
  const std::string dir = scratch_dir();
  const std::string base = "convert --model " + source_path("models/fmnist_cnn.onnx") +
                           " --precision int8 --calibration-data "
                           "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz --calibration-count 64 "
                           "--preprocess " +
                           source_path("models/fmnist_cnn.preprocess.json") + " --calibration-cache " + dir +
                           "/cnn.calib --error-report 0";
  ASSERT_EQ(run_cli(base + " --output " + dir + "/plain.kestrel").exit_code, 0);
  const CliResult equalized = run_cli(base + " --output " + dir + "/cle.kestrel --cross-layer-equalization");
  ASSERT_EQ(equalized.exit_code, 0) << equalized.output;
  EXPECT_NE(equalized.output.find("cross-layer equalization: no conv pair around a depthwise conv"), std::string::npos)
      << equalized.output;
  EXPECT_NE(equalized.output.find("calibration statistics reused from"), std::string::npos) << equalized.output;
}

TEST(ConvertEqualizationCli, BadUsesAreOneLineErrors) {
  const BlockFiles f = write_block_files();
  expect_clean_error(run_cli("convert --model " + f.model + " --output " + f.dir + "/fp32.kestrel --bias-correction"),
                     {"--bias-correction is for --precision int8"});
  expect_clean_error(
      run_cli("convert --model " + f.model + " --output " + f.dir + "/fp32.kestrel --cross-layer-equalization"),
      {"--cross-layer-equalization is for --precision int8"});
  const std::string config = f.dir + "/bad.json";
  std::ofstream(config) << R"({"bias_correction": "yes"})";
  expect_clean_error(run_cli("convert --model " + f.model + " --output " + f.dir + "/bad.kestrel --precision int8 " +
                             "--calibration-data " + f.calibration + " --calibration-batch 4 --quant-config " + config),
                     {config, "'bias_correction' must be true or false"});
}

}  // namespace
}  // namespace kestrel::testing
