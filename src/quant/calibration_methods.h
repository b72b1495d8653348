// Calibration methods: turn a tensor's TensorStats into a clipping threshold T.
// Activations are then quantized with scale = T / 127 (int8, symmetric) or
// scale = T / 255 (uint8, zero point 0, for tensors that are never negative);
// see quant/quantize.h and docs/quantization.md.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "quant/tensor_stats.h"

namespace kestrel {

enum class CalibrationMethod {
  kMinMax,      // T = max(|min|, |max|): nothing clipped, coarsest steps
  kPercentile,  // T = the p-th percentile of |x|
  kEntropy,     // T minimizing KL(P || Q) between clipped and quantized histograms
  kMse,         // T minimizing the expected rounding + clipping squared error
};

inline constexpr double kDefaultPercentile = 99.99;
// Quantization levels of |x| for the KL search: int8's 7 magnitude bits,
// for uint8 tensors too (their 256-level grid then has twice the
// resolution the search assumed). Searched with 256 levels, KL clips
// post-ReLU tensors harder: ResNet-50 (Fashion-MNIST) lost 9.7 points on
// 1000 test images, against 3.5 with 128.
inline constexpr int kEntropyLevels = 128;
// A bin holding more than this share of the non-zero values and kSpikeFactor times
// the median of the kSpikeRadius bins either side is a spike (a constant
// background's value, say): the KL search leaves it out, as it does bin 0.
inline constexpr double kSpikeShare = 1e-3;
inline constexpr double kSpikeFactor = 5.0;
inline constexpr int kSpikeRadius = 8;
// Largest code of |x| (the step count in [0, T]) for int8 and uint8.
inline constexpr int kSignedMaxCode = 127;
inline constexpr int kUnsignedMaxCode = 255;

struct CalibrationOptions {
  // For kPercentile, in (0, 100].
  double percentile = kDefaultPercentile;
  // When true and the tensor was never negative, entropy and mse assume the
  // uint8 grid (256 levels); otherwise the int8 symmetric one.
  bool allow_unsigned = true;
  // Named in error messages when non-empty.
  std::string tensor_name;
};

// "minmax" | "percentile" | "entropy" | "mse".
StatusOr<CalibrationMethod> parse_calibration_method(std::string_view name);
std::string_view calibration_method_name(CalibrationMethod method);

// True when the tensor gets the unsigned (uint8, zero point 0) grid.
bool uses_unsigned_range(const TensorStats& stats, const CalibrationOptions& options);

// The clipping threshold T in [0, stats.max_abs()]. 0 only when every value
// seen was 0. Fails on stats with no data and on bad options.
StatusOr<float> choose_threshold(const TensorStats& stats, CalibrationMethod method,
                                 const CalibrationOptions& options = {});

// The individual methods, for tests and reports; stats must not be empty.
float minmax_threshold(const TensorStats& stats);
float percentile_threshold(const TensorStats& stats, double percentile);
float entropy_threshold(const TensorStats& stats, int num_levels);
float mse_threshold(const TensorStats& stats, int max_code);

}  // namespace kestrel
