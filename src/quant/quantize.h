// Quantization parameters and helpers for the INT8 scheme (docs/quantization.md):
//   activations: per tensor; uint8 with zero point 0 when never negative
//                (after ReLU-like producers), int8 symmetric otherwise;
//   weights:     int8 symmetric, per output channel (or per tensor);
//   bias:        int32 = round(b / (input scale * weight scale)).
// Rounding is half to even; values beyond the grid saturate. Symmetric int8
// uses [-127, 127] (not -128) so that the grid is symmetric and -T maps
// exactly to the negative of T.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "ir/tensor.h"
#include "quant/calibration_methods.h"
#include "quant/tensor_stats.h"

namespace kestrel {

inline constexpr int32_t kInt8SymmetricMin = -kSignedMaxCode;
inline constexpr int32_t kInt8SymmetricMax = kSignedMaxCode;
inline constexpr int32_t kUInt8Min = 0;
inline constexpr int32_t kUInt8Max = kUnsignedMaxCode;
// Scale used when a tensor or channel is all zeros: any positive scale
// represents it exactly, and 1 keeps dequantization well defined.
inline constexpr float kScaleForAllZeros = 1.0f;

struct TensorQuant {
  DType dtype = DType::kInt8;  // kInt8 (symmetric) or kUInt8 (zero point 0)
  float scale = kScaleForAllZeros;
  int32_t zero_point = 0;
};

// Per-tensor activation parameters from a clipping threshold T.
TensorQuant activation_quant_params(float threshold, bool is_unsigned);
// Chooses T with `method` and derives the parameters (uint8 when the tensor was
// never negative and options.allow_unsigned).
StatusOr<TensorQuant> activation_quant_params(const TensorStats& stats, CalibrationMethod method,
                                              const CalibrationOptions& options = {});

// Symmetric int8 parameters covering max|w| of a float32 tensor.
StatusOr<TensorQuant> weight_quant_params_per_tensor(const Tensor& weights);
// scale_c = max|w_c| / 127 for each index c along `axis` (negative counts from the back).
StatusOr<std::vector<float>> weight_scales_per_channel(const Tensor& weights, int64_t axis);

struct QuantizedWeights {
  Tensor values;              // int8, same shape as the float weights
  std::vector<float> scales;  // one per channel along `axis` (one when per tensor)
  int64_t axis = 0;
};
StatusOr<QuantizedWeights> quantize_weights_per_channel(const Tensor& weights, int64_t axis);

// Bias of a conv/gemm whose input has scale input_scale: int32 values
// round(b_c / (input_scale * weight_scales[c])); weight_scales has one entry
// (per tensor) or one per bias element.
StatusOr<Tensor> quantize_bias(const Tensor& bias, float input_scale, const std::vector<float>& weight_scales);

// One value onto the grid of `dtype` (kInt8: [-127, 127]; kUInt8: [0, 255]).
int32_t quantize_value(float x, float scale, int32_t zero_point, DType dtype);
inline float dequantize_value(int32_t q, float scale, int32_t zero_point) {
  return static_cast<float>(q - zero_point) * scale;
}

struct QuantizationError {
  double sqnr_db = 0.0;             // 10 log10(signal power / error power); +inf when exact
  double cosine_similarity = 1.0;   // between x and its dequantized copy
  double saturated_fraction = 0.0;  // share of values that hit the grid's ends while beyond them
};
// Quantizes and dequantizes x[0..n) and compares.
StatusOr<QuantizationError> quantization_error(const float* x, int64_t n, float scale, int32_t zero_point, DType dtype);

}  // namespace kestrel
