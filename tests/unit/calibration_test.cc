// Calibration statistics, threshold selection and quantization helpers.
// Randomized tests print their seed; replay a failure with KESTREL_TEST_SEED=<seed>.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "quant/calibration_methods.h"
#include "quant/quantize.h"
#include "quant/tensor_stats.h"
#include "test_seed.h"

namespace kestrel::testing {
namespace {

std::vector<float> uniform_samples(std::mt19937& rng, size_t count, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// The value of a StatusOr, failing the test (and returning a default) on error.
template <typename T>
T unwrap(StatusOr<T> result) {
  if (!result.ok()) {
    ADD_FAILURE() << result.status().message();
    return T{};
  }
  return std::move(result).value();
}

TensorStats stats_of(const std::vector<float>& values) {
  TensorStats stats;
  stats.add(values.data(), static_cast<int64_t>(values.size()));
  return stats;
}

int64_t histogram_total(const TensorStats& stats) {
  int64_t total = 0;
  for (int64_t c : stats.histogram()) total += c;
  return total;
}

// Mean squared error of actually quantizing `values` with threshold T.
double quantized_mse(const std::vector<float>& values, float threshold, bool is_unsigned) {
  const TensorQuant params = activation_quant_params(threshold, is_unsigned);
  double error = 0.0;
  for (float v : values) {
    const float restored = dequantize_value(quantize_value(v, params.scale, params.zero_point, params.dtype),
                                            params.scale, params.zero_point);
    error += (v - restored) * static_cast<double>(v - restored);
  }
  return error / static_cast<double>(values.size());
}

void expect_same_stats(const TensorStats& a, const TensorStats& b) {
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.bin_width(), b.bin_width());
  EXPECT_EQ(a.histogram(), b.histogram());
}

TEST(TensorStatsTest, HistogramGrowthKeepsCountsAndTotal) {
  TensorStats stats;
  const std::vector<float> small = {0.25f, -0.5f, 0.0f, 0.75f};
  stats.add(small.data(), 4);
  EXPECT_GT(stats.histogram_range(), 0.75f);
  EXPECT_LE(stats.histogram_range(), 2 * 0.75f);
  const std::vector<float> large = {-100.0f, 3.0f};
  stats.add(large.data(), 2);
  EXPECT_EQ(stats.count(), 6);
  EXPECT_EQ(histogram_total(stats), 6);
  EXPECT_EQ(stats.min(), -100.0f);
  EXPECT_EQ(stats.max(), 3.0f);
  EXPECT_GT(stats.histogram_range(), 100.0f);
  EXPECT_LE(stats.histogram_range(), 200.0f);
  // Width 2^-4 after growth: 0, 0.25, 0.5, 0.75 and 3 land in bins 0, 4, 8, 12 and 48.
  EXPECT_EQ(stats.bin_width(), 0.0625f);
  for (size_t bin : {0, 4, 8, 12}) EXPECT_EQ(stats.histogram()[bin], 1) << bin;
  EXPECT_EQ(stats.histogram()[48], 1);
  EXPECT_EQ(stats.histogram()[1600], 1);
  EXPECT_EQ(stats.last_nonzero_bin(), 1600);
}

TEST(TensorStatsTest, GrowthMatchesSinglePassOnRandomBatches) {
  std::mt19937 rng(test_seed());
  TensorStats streamed;
  std::vector<float> all;
  for (float scale : {0.01f, 1.0f, 37.0f, 5.0f, 1000.0f}) {
    const auto batch = uniform_samples(rng, 5000, -scale, scale);
    streamed.add(batch.data(), static_cast<int64_t>(batch.size()));
    all.insert(all.end(), batch.begin(), batch.end());
  }
  expect_same_stats(streamed, stats_of(all));
  EXPECT_EQ(histogram_total(streamed), static_cast<int64_t>(all.size())) << seed_trace();
}

TEST(TensorStatsTest, MergeEqualsSinglePass) {
  std::mt19937 rng(test_seed());
  const auto first = uniform_samples(rng, 20000, -0.3f, 0.2f);
  const auto second = uniform_samples(rng, 30000, -7.0f, 9.0f);
  std::vector<float> all = first;
  all.insert(all.end(), second.begin(), second.end());
  TensorStats a = stats_of(first);
  ASSERT_TRUE(a.merge(stats_of(second)).ok());
  expect_same_stats(a, stats_of(all));
  TensorStats b = stats_of(second);
  ASSERT_TRUE(b.merge(stats_of(first)).ok());
  expect_same_stats(b, stats_of(all));
  TensorStats empty;
  ASSERT_TRUE(empty.merge(a).ok());
  expect_same_stats(empty, a);
}

TEST(TensorStatsTest, MergeRejectsDifferentBinCounts) {
  TensorStats a(1024);
  const Status status = a.merge(TensorStats(2048));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("2048"), std::string::npos) << status.message();
}

TEST(TensorStatsTest, NonFiniteValuesAreCountedNotBinned) {
  const std::vector<float> values = {1.0f, NAN, INFINITY, -2.0f};
  TensorStats stats = stats_of(values);
  EXPECT_EQ(stats.count(), 2);
  EXPECT_EQ(stats.nonfinite_count(), 2);
  EXPECT_EQ(stats.max_abs(), 2.0f);
  EXPECT_EQ(histogram_total(stats), 2);
}

TEST(CalibrationTest, ParsesMethodNamesAndListsValidOnes) {
  EXPECT_EQ(unwrap(parse_calibration_method("minmax")), CalibrationMethod::kMinMax);
  EXPECT_EQ(unwrap(parse_calibration_method("percentile")), CalibrationMethod::kPercentile);
  EXPECT_EQ(unwrap(parse_calibration_method("entropy")), CalibrationMethod::kEntropy);
  EXPECT_EQ(unwrap(parse_calibration_method("mse")), CalibrationMethod::kMse);
  const auto bad = parse_calibration_method("kl");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'kl'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("minmax, percentile, entropy, mse"), std::string::npos)
      << bad.status().message();
  EXPECT_EQ(calibration_method_name(CalibrationMethod::kEntropy), "entropy");
}

TEST(CalibrationTest, EmptyStatsAndBadPercentileAreErrors) {
  CalibrationOptions options;
  options.tensor_name = "conv1_out";
  const auto empty = choose_threshold(TensorStats(), CalibrationMethod::kEntropy, options);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("'conv1_out'"), std::string::npos) << empty.status().message();
  options.percentile = 100.5;
  const auto bad = choose_threshold(stats_of({1.0f}), CalibrationMethod::kPercentile, options);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("(0, 100]"), std::string::npos) << bad.status().message();
}

TEST(CalibrationTest, MinMaxIsExactAndZerosGiveZero) {
  EXPECT_EQ(unwrap(choose_threshold(stats_of({-3.25f, 1.5f, 0.1f}), CalibrationMethod::kMinMax)), 3.25f);
  EXPECT_EQ(unwrap(choose_threshold(stats_of({0.5f, 7.125f}), CalibrationMethod::kMinMax)), 7.125f);
  for (auto method : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile, CalibrationMethod::kEntropy,
                      CalibrationMethod::kMse}) {
    EXPECT_EQ(unwrap(choose_threshold(stats_of({0.0f, 0.0f}), method)), 0.0f);
  }
}

TEST(CalibrationTest, PercentileOfUniform) {
  std::mt19937 rng(test_seed());
  const auto values = uniform_samples(rng, 200000, -1.0f, 1.0f);
  const TensorStats stats = stats_of(values);
  CalibrationOptions options;
  EXPECT_NEAR(unwrap(choose_threshold(stats, CalibrationMethod::kPercentile, options)), 0.9999f, 2e-3) << seed_trace();
  options.percentile = 50.0;
  EXPECT_NEAR(unwrap(choose_threshold(stats, CalibrationMethod::kPercentile, options)), 0.5f, 1e-2) << seed_trace();
  options.percentile = 100.0;
  EXPECT_EQ(unwrap(choose_threshold(stats, CalibrationMethod::kPercentile, options)), stats.max_abs());
}

TEST(CalibrationTest, EntropyAndMseClipGaussianOutliers) {
  std::mt19937 rng(test_seed());
  constexpr size_t kSamples = 1 << 20;
  std::normal_distribution<float> gaussian(0.0f, 1.0f);
  std::vector<float> values(kSamples);
  for (float& v : values) v = gaussian(rng);
  values[0] = 60.0f;  // a few huge outliers
  values[1] = -55.0f;
  values[2] = 48.0f;
  const TensorStats stats = stats_of(values);
  const float minmax = unwrap(choose_threshold(stats, CalibrationMethod::kMinMax));
  const double minmax_mse = quantized_mse(values, minmax, false);
  for (auto method : {CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    const float threshold = unwrap(choose_threshold(stats, method));
    const std::string trace = str_cat(calibration_method_name(method), " T=", threshold, " ", seed_trace());
    EXPECT_LT(threshold, 0.5f * minmax) << trace;
    EXPECT_GT(threshold, 2.0f) << trace;
    EXPECT_LT(quantized_mse(values, threshold, false), minmax_mse) << trace;
    std::cout << "[ info     ] " << trace << "\n";
  }
}

TEST(CalibrationTest, EntropyAndMseKeepUniformRange) {
  std::mt19937 rng(test_seed());
  const auto signed_values = uniform_samples(rng, 100000, -2.0f, 2.0f);
  const auto unsigned_values = uniform_samples(rng, 100000, 0.0f, 3.0f);
  for (auto method : {CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    for (const auto* values : {&signed_values, &unsigned_values}) {
      const TensorStats stats = stats_of(*values);
      const float threshold = unwrap(choose_threshold(stats, method));
      EXPECT_GT(threshold, 0.9f * stats.max_abs()) << calibration_method_name(method) << " " << seed_trace();
      EXPECT_LE(threshold, stats.max_abs());
    }
  }
}

// Like a normalized image's constant background: most values sit on one
// value (-2.12 here) and the rest spread past it up to 2.64. The spike is
// left out of the KL search, so entropy keeps the range above it instead of
// clipping everything beyond the spike.
TEST(CalibrationTest, EntropyIgnoresASpikeInsideTheRange) {
  std::mt19937 rng(test_seed());
  std::vector<float> values = uniform_samples(rng, 300000, -2.12f, 2.64f);
  values.resize(1000000, -2.12f);
  const TensorStats stats = stats_of(values);
  const float threshold = unwrap(choose_threshold(stats, CalibrationMethod::kEntropy));
  EXPECT_GT(threshold, 2.5f) << seed_trace();
  EXPECT_LE(threshold, stats.max_abs());
}

TEST(QuantizeTest, RoundsHalfToEvenAndSaturates) {
  EXPECT_EQ(quantize_value(2.5f, 1.0f, 0, DType::kInt8), 2);
  EXPECT_EQ(quantize_value(3.5f, 1.0f, 0, DType::kInt8), 4);
  EXPECT_EQ(quantize_value(-2.5f, 1.0f, 0, DType::kInt8), -2);
  EXPECT_EQ(quantize_value(1000.0f, 1.0f, 0, DType::kInt8), 127);
  EXPECT_EQ(quantize_value(-1000.0f, 1.0f, 0, DType::kInt8), -127);
  EXPECT_EQ(quantize_value(-5.0f, 1.0f, 0, DType::kUInt8), 0);
  EXPECT_EQ(quantize_value(300.0f, 1.0f, 0, DType::kUInt8), 255);
  EXPECT_EQ(quantize_value(NAN, 1.0f, 0, DType::kInt8), 0);
}

TEST(QuantizeTest, ActivationParamsPickUnsignedForNonNegativeTensors) {
  const auto relu_like = unwrap(activation_quant_params(stats_of({0.0f, 2.55f}), CalibrationMethod::kMinMax));
  EXPECT_EQ(relu_like.dtype, DType::kUInt8);
  EXPECT_FLOAT_EQ(relu_like.scale, 2.55f / 255);
  EXPECT_EQ(relu_like.zero_point, 0);
  const auto signed_params = unwrap(activation_quant_params(stats_of({-1.27f, 0.5f}), CalibrationMethod::kMinMax));
  EXPECT_EQ(signed_params.dtype, DType::kInt8);
  EXPECT_FLOAT_EQ(signed_params.scale, 0.01f);
  CalibrationOptions no_unsigned;
  no_unsigned.allow_unsigned = false;
  EXPECT_EQ(activation_quant_params(stats_of({0.0f, 1.0f}), CalibrationMethod::kMinMax, no_unsigned)->dtype,
            DType::kInt8);
  EXPECT_EQ(activation_quant_params(0.0f, false).scale, kScaleForAllZeros);
}

TEST(QuantizeTest, WeightsPerChannelRoundTripAndSaturation) {
  std::mt19937 rng(test_seed());
  constexpr int64_t kChannels = 8, kPerChannel = 3 * 3 * 5, kZeroChannel = 7;
  Tensor weights(DType::kFloat32, {kChannels, 5, 3, 3});
  for (int64_t c = 0; c < kChannels; ++c) {
    const float range = std::ldexp(1.0f, static_cast<int>(c) - 4);  // channels of very different ranges
    const auto values = uniform_samples(rng, kPerChannel, -range, range);
    std::copy(values.begin(), values.end(), weights.data<float>() + c * kPerChannel);
  }
  std::fill_n(weights.data<float>() + kZeroChannel * kPerChannel, kPerChannel, 0.0f);  // an all-zero channel
  const QuantizedWeights q = unwrap(quantize_weights_per_channel(weights, 0));
  ASSERT_EQ(q.scales.size(), static_cast<size_t>(kChannels));
  EXPECT_EQ(q.scales[kZeroChannel], kScaleForAllZeros);
  for (int64_t c = 0; c < kChannels; ++c) {
    const float scale = q.scales[static_cast<size_t>(c)];
    int max_code = 0;
    for (int64_t i = c * kPerChannel; i < (c + 1) * kPerChannel; ++i) {
      const int code = q.values.data<int8_t>()[i];
      max_code = std::max(max_code, std::abs(code));
      EXPECT_LE(std::fabs(weights.data<float>()[i] - code * scale), scale / 2 * (1 + 1e-5f)) << seed_trace();
    }
    EXPECT_EQ(max_code, c == kZeroChannel ? 0 : 127) << "channel " << c;
  }
  // Values beyond a channel's scale saturate at exactly +-127.
  EXPECT_EQ(quantize_value(10.0f * 127 * q.scales[0], q.scales[0], 0, DType::kInt8), 127);
  EXPECT_EQ(quantize_value(-10.0f * 127 * q.scales[0], q.scales[0], 0, DType::kInt8), -127);
}

TEST(QuantizeTest, PerChannelAxisAndPerTensorParams) {
  const Tensor weights = Tensor::from_vector<float>({2, 3}, {1, -2, 3, 4, -5, 6.35f});
  const auto along_columns = unwrap(weight_scales_per_channel(weights, -1));
  ASSERT_EQ(along_columns.size(), 3u);
  EXPECT_FLOAT_EQ(along_columns[1], 5.0f / 127);
  EXPECT_FLOAT_EQ(weight_quant_params_per_tensor(weights)->scale, 0.05f);
  EXPECT_FALSE(quantize_weights_per_channel(weights, 2).ok());
  EXPECT_FALSE(quantize_weights_per_channel(Tensor::from_vector<int32_t>({2}, {1, 2}), 0).ok());
}

TEST(QuantizeTest, BiasUsesInputTimesWeightScale) {
  const Tensor bias = Tensor::from_vector<float>({2}, {1.0f, -0.3f});
  const Tensor q = unwrap(quantize_bias(bias, 0.5f, {0.01f, 0.1f}));
  EXPECT_EQ(q.data<int32_t>()[0], 200);
  EXPECT_EQ(q.data<int32_t>()[1], -6);
  EXPECT_FALSE(quantize_bias(bias, 0.5f, {0.1f, 0.1f, 0.1f}).ok());
}

TEST(QuantizeTest, SqnrAndCosineOfKnownCases) {
  // 4.5 rounds to 4 (half to even): noise 0.25, signal 1 + 4 + 9 + 20.25.
  const std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.5f};
  const auto error = unwrap(quantization_error(x.data(), 4, 1.0f, 0, DType::kInt8));
  EXPECT_NEAR(error.sqnr_db, 10 * std::log10(34.25 / 0.25), 1e-9);
  EXPECT_NEAR(error.cosine_similarity, 32.0 / std::sqrt(34.25 * 30.0), 1e-12);
  EXPECT_EQ(error.saturated_fraction, 0.0);
  const auto exact = unwrap(quantization_error(x.data(), 3, 1.0f, 0, DType::kInt8));
  EXPECT_TRUE(std::isinf(exact.sqnr_db));
  EXPECT_DOUBLE_EQ(exact.cosine_similarity, 1.0);
  // Uniform in [-1, 1] at scale 1/127: SQNR = (1/3) / (step^2 / 12) = 4 * 127^2, about 48.1 dB.
  std::mt19937 rng(test_seed());
  const auto uniform = uniform_samples(rng, 100000, -1.0f, 1.0f);
  const auto theory = unwrap(quantization_error(uniform.data(), 100000, 1.0f / 127, 0, DType::kInt8));
  EXPECT_NEAR(theory.sqnr_db, 10 * std::log10(4.0 * 127 * 127), 0.1) << seed_trace();
  const std::vector<float> clipped = {-1.0f, 0.5f, 300.0f};
  EXPECT_NEAR(quantization_error(clipped.data(), 3, 1.0f, 0, DType::kUInt8)->saturated_fraction, 2.0 / 3, 1e-12);
  EXPECT_FALSE(quantization_error(x.data(), 4, 0.0f, 0, DType::kInt8).ok());
}

}  // namespace
}  // namespace kestrel::testing
