#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kestrel {
namespace {

constexpr double kDecibelsPerPowerDecade = 10.0;

// Weights viewed as [outer, channels, inner] around the channel axis.
struct ChannelView {
  int64_t outer = 1;
  int64_t channels = 1;
  int64_t inner = 1;
};

StatusOr<ChannelView> channel_view(const Tensor& weights, int64_t axis) {
  if (weights.dtype() != DType::kFloat32) {
    return invalid_argument("weights to quantize must be float32, got ", dtype_name(weights.dtype()));
  }
  const int64_t rank = weights.rank();
  if (axis < -rank || axis >= rank) {
    return invalid_argument("channel axis ", axis, " is out of range for weights of shape ",
                            shape_string(weights.shape()));
  }
  const int64_t normalized = axis < 0 ? axis + rank : axis;
  ChannelView view;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < normalized) view.outer *= weights.dim(d);
    if (d == normalized) view.channels = weights.dim(d);
    if (d > normalized) view.inner *= weights.dim(d);
  }
  return view;
}

float symmetric_scale(float max_abs) {
  return max_abs > 0.0f ? max_abs / static_cast<float>(kInt8SymmetricMax) : kScaleForAllZeros;
}

void grid_limits(DType dtype, int32_t& lo, int32_t& hi) {
  lo = dtype == DType::kUInt8 ? kUInt8Min : kInt8SymmetricMin;
  hi = dtype == DType::kUInt8 ? kUInt8Max : kInt8SymmetricMax;
}

// Unclipped grid position, rounded half to even (the default FP rounding mode).
double unclipped_code(float x, float scale, int32_t zero_point) {
  return std::nearbyint(static_cast<double>(x) / scale) + zero_point;
}

}  // namespace

TensorQuant activation_quant_params(float threshold, bool is_unsigned) {
  TensorQuant params;
  params.dtype = is_unsigned ? DType::kUInt8 : DType::kInt8;
  const int max_code = is_unsigned ? kUnsignedMaxCode : kSignedMaxCode;
  params.scale = threshold > 0.0f ? threshold / static_cast<float>(max_code) : kScaleForAllZeros;
  params.zero_point = 0;
  return params;
}

StatusOr<TensorQuant> activation_quant_params(const TensorStats& stats, CalibrationMethod method,
                                              const CalibrationOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(const float threshold, choose_threshold(stats, method, options));
  return activation_quant_params(threshold, uses_unsigned_range(stats, options));
}

StatusOr<std::vector<float>> weight_scales_per_channel(const Tensor& weights, int64_t axis) {
  KESTREL_ASSIGN_OR_RETURN(const ChannelView view, channel_view(weights, axis));
  std::vector<float> max_abs(static_cast<size_t>(view.channels), 0.0f);
  const float* src = weights.data<float>();
  for (int64_t o = 0; o < view.outer; ++o) {
    for (int64_t c = 0; c < view.channels; ++c) {
      const float* row = src + (o * view.channels + c) * view.inner;
      for (int64_t i = 0; i < view.inner; ++i) {
        if (!std::isfinite(row[i])) return invalid_argument("weights contain NaN or Inf at channel ", c);
        max_abs[static_cast<size_t>(c)] = std::max(max_abs[static_cast<size_t>(c)], std::fabs(row[i]));
      }
    }
  }
  for (float& value : max_abs) value = symmetric_scale(value);
  return max_abs;
}

StatusOr<TensorQuant> weight_quant_params_per_tensor(const Tensor& weights) {
  if (weights.dtype() != DType::kFloat32) {
    return invalid_argument("weights to quantize must be float32, got ", dtype_name(weights.dtype()));
  }
  const Tensor flat = weights.reshaped({1, weights.size()});
  KESTREL_ASSIGN_OR_RETURN(const std::vector<float> scales, weight_scales_per_channel(flat, 0));
  TensorQuant params;
  params.dtype = DType::kInt8;
  params.scale = scales[0];
  return params;
}

StatusOr<QuantizedWeights> quantize_weights_per_channel(const Tensor& weights, int64_t axis) {
  KESTREL_ASSIGN_OR_RETURN(const ChannelView view, channel_view(weights, axis));
  QuantizedWeights result;
  KESTREL_ASSIGN_OR_RETURN(result.scales, weight_scales_per_channel(weights, axis));
  result.axis = axis < 0 ? axis + weights.rank() : axis;
  result.values = Tensor(DType::kInt8, weights.shape());
  const float* src = weights.data<float>();
  int8_t* dst = result.values.data<int8_t>();
  for (int64_t o = 0; o < view.outer; ++o) {
    for (int64_t c = 0; c < view.channels; ++c) {
      const int64_t offset = (o * view.channels + c) * view.inner;
      const float scale = result.scales[static_cast<size_t>(c)];
      for (int64_t i = 0; i < view.inner; ++i) {
        dst[offset + i] = static_cast<int8_t>(quantize_value(src[offset + i], scale, 0, DType::kInt8));
      }
    }
  }
  return result;
}

StatusOr<Tensor> quantize_bias(const Tensor& bias, float input_scale, const std::vector<float>& weight_scales) {
  if (bias.dtype() != DType::kFloat32) return invalid_argument("bias must be float32, got ", dtype_name(bias.dtype()));
  const bool per_channel = weight_scales.size() != 1;
  if (per_channel && static_cast<int64_t>(weight_scales.size()) != bias.size()) {
    return invalid_argument("bias of shape ", shape_string(bias.shape()), " needs 1 or ", bias.size(),
                            " weight scales, got ", weight_scales.size());
  }
  Tensor result(DType::kInt32, bias.shape());
  constexpr double kInt32Lowest = std::numeric_limits<int32_t>::min();
  constexpr double kInt32Highest = std::numeric_limits<int32_t>::max();
  for (int64_t i = 0; i < bias.size(); ++i) {
    const double scale = static_cast<double>(input_scale) * weight_scales[per_channel ? static_cast<size_t>(i) : 0];
    if (!(scale > 0.0)) return invalid_argument("bias scale must be positive, got ", scale, " at element ", i);
    const double q = std::nearbyint(static_cast<double>(bias.data<float>()[i]) / scale);
    result.data<int32_t>()[i] = static_cast<int32_t>(std::clamp(q, kInt32Lowest, kInt32Highest));
  }
  return result;
}

int32_t quantize_value(float x, float scale, int32_t zero_point, DType dtype) {
  int32_t lo = 0;
  int32_t hi = 0;
  grid_limits(dtype, lo, hi);
  if (std::isnan(x)) return zero_point;
  const double code = unclipped_code(x, scale, zero_point);
  return static_cast<int32_t>(std::clamp(code, static_cast<double>(lo), static_cast<double>(hi)));
}

StatusOr<QuantizationError> quantization_error(const float* x, int64_t n, float scale, int32_t zero_point,
                                               DType dtype) {
  if (dtype != DType::kInt8 && dtype != DType::kUInt8) {
    return invalid_argument("quantization error needs int8 or uint8, got ", dtype_name(dtype));
  }
  if (!(scale > 0.0f) || !std::isfinite(scale)) return invalid_argument("scale must be positive, got ", scale);
  if (n < 0 || (n > 0 && x == nullptr)) return invalid_argument("bad sample buffer of ", n, " values");
  int32_t lo = 0;
  int32_t hi = 0;
  grid_limits(dtype, lo, hi);
  double signal = 0.0, noise = 0.0, dot = 0.0, dequant_power = 0.0;
  int64_t saturated = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double code = unclipped_code(x[i], scale, zero_point);
    saturated += (code < lo || code > hi) ? 1 : 0;
    const double restored = dequantize_value(quantize_value(x[i], scale, zero_point, dtype), scale, zero_point);
    const double value = x[i];
    signal += value * value;
    noise += (value - restored) * (value - restored);
    dot += value * restored;
    dequant_power += restored * restored;
  }
  QuantizationError error;
  error.sqnr_db =
      noise > 0.0 ? kDecibelsPerPowerDecade * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
  const double norms = std::sqrt(signal * dequant_power);
  error.cosine_similarity = norms > 0.0 ? dot / norms : (signal == dequant_power ? 1.0 : 0.0);
  error.saturated_fraction = n > 0 ? static_cast<double>(saturated) / static_cast<double>(n) : 0.0;
  return error;
}

}  // namespace kestrel
