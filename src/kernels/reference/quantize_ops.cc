// QuantizeLinear and DequantizeLinear, per tensor or (opset 13+) per axis.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/reference/elementwise_common.h"

namespace kestrel::elementwise {
namespace {

// Scale (input 1) and zero point (input 2) apply per tensor when they hold
// one element, else along `axis` of x (input 0), one value per slice.
bool is_per_axis(const Shape& scale_shape) { return !scale_shape.empty() && shape_size(scale_shape) != 1; }

Status check_quant_params(const InferContext& ctx) {
  if (ctx.input_dtype(1) != DType::kFloat32) {
    return ctx.error("scale (input 1) must be float32, got ", dtype_name(ctx.input_dtype(1)));
  }
  const Shape& x_shape = ctx.input_shape(0);
  const Shape& scale_shape = ctx.input_shape(1);
  const bool both_single = ctx.has_input(2) && !is_per_axis(scale_shape) && !is_per_axis(ctx.input_shape(2));
  if (ctx.has_input(2) && !both_single && ctx.input_shape(2) != scale_shape) {
    return ctx.error("zero point shape ", shape_string(ctx.input_shape(2)), " differs from scale shape ",
                     shape_string(scale_shape));
  }
  if (!is_per_axis(scale_shape)) return {};
  if (ctx.opset() < 13) {
    return ctx.error("scale must be a scalar before opset 13, got shape ", shape_string(scale_shape));
  }
  if (scale_shape.size() != 1) return ctx.error("scale must be a scalar or 1-D, got shape ", shape_string(scale_shape));
  const int64_t rank = static_cast<int64_t>(x_shape.size());
  const int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < -rank || axis >= rank) return ctx.error("axis ", axis, " is out of range for input rank ", rank);
  const int64_t channels = x_shape[static_cast<size_t>(axis < 0 ? axis + rank : axis)];
  if (channels >= 0 && scale_shape[0] >= 0 && channels != scale_shape[0]) {
    return ctx.error("scale has ", scale_shape[0], " elements but axis ", axis, " of the input has ", channels);
  }
  return {};
}

// x viewed as [outer, channels, inner], channels being the quantization axis
// (1 for per-tensor parameters).
struct AxisLayout {
  int64_t outer = 1;
  int64_t channels = 1;
  int64_t inner = 1;
};

AxisLayout axis_layout(const KernelContext& ctx) {
  const Shape& shape = ctx.input(0).shape();
  AxisLayout layout;
  if (!is_per_axis(ctx.input(1).shape())) {
    layout.inner = shape_size(shape);
    return layout;
  }
  const int64_t rank = static_cast<int64_t>(shape.size());
  int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis < 0) axis += rank;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) layout.outer *= shape[static_cast<size_t>(d)];
    if (d == axis) layout.channels = shape[static_cast<size_t>(d)];
    if (d > axis) layout.inner *= shape[static_cast<size_t>(d)];
  }
  return layout;
}

// Rounds to the nearest integer, ties to even, independent of the FPU mode.
float round_half_even(float value) {
  const float rounded = std::round(value);  // ties away from zero
  if (std::fabs(value - std::trunc(value)) != 0.5f) return rounded;
  return 2.0f * std::round(value / 2.0f);
}

// ---- QuantizeLinear: y = saturate(round(x / scale) + zero_point).
Status infer_quantize(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 3));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, dtype_bit(DType::kFloat32) | dtype_bit(DType::kInt32)));
  DType out_dtype = DType::kUInt8;
  if (ctx.has_input(2)) {
    KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 2, dtype_bit(DType::kUInt8) | dtype_bit(DType::kInt8)));
    out_dtype = ctx.input_dtype(2);
  }
  KESTREL_RETURN_IF_ERROR(check_quant_params(ctx));
  ctx.set_output(0, out_dtype, ctx.input_shape(0));
  return {};
}

template <typename X, typename Q>
void quantize(KernelContext& ctx) {
  const AxisLayout layout = axis_layout(ctx);
  const X* src = ctx.input(0).data<X>();
  const float* scale = ctx.input(1).data<float>();
  const Q* zero_point = ctx.has_input(2) ? ctx.input(2).data<Q>() : nullptr;
  Q* dst = ctx.output(0).data<Q>();
  const float lo = static_cast<float>(std::numeric_limits<Q>::lowest());
  const float hi = static_cast<float>(std::numeric_limits<Q>::max());
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int64_t c = 0; c < layout.channels; ++c) {
      const float s = scale[c];
      const float zp = zero_point != nullptr ? static_cast<float>(zero_point[c]) : 0.0f;
      for (int64_t i = 0; i < layout.inner; ++i, ++src, ++dst) {
        float q = round_half_even(static_cast<float>(*src) / s) + zp;
        if (std::isnan(q)) q = zp;
        *dst = static_cast<Q>(std::min(hi, std::max(lo, q)));
      }
    }
  }
}

Status run_quantize(KernelContext& ctx) {
  const bool float_input = ctx.input(0).dtype() == DType::kFloat32;
  const bool signed_output = ctx.output(0).dtype() == DType::kInt8;
  if (float_input) signed_output ? quantize<float, int8_t>(ctx) : quantize<float, uint8_t>(ctx);
  else signed_output ? quantize<int32_t, int8_t>(ctx) : quantize<int32_t, uint8_t>(ctx);
  return {};
}

// ---- DequantizeLinear: y = (x - zero_point) * scale.
Status infer_dequantize(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 3));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  KESTREL_RETURN_IF_ERROR(
      check_input_dtype(ctx, 0, dtype_bit(DType::kUInt8) | dtype_bit(DType::kInt8) | dtype_bit(DType::kInt32)));
  if (ctx.has_input(2)) KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 2));
  KESTREL_RETURN_IF_ERROR(check_quant_params(ctx));
  ctx.set_output(0, DType::kFloat32, ctx.input_shape(0));
  return {};
}

template <typename Q>
void dequantize(KernelContext& ctx) {
  const AxisLayout layout = axis_layout(ctx);
  const Q* src = ctx.input(0).data<Q>();
  const float* scale = ctx.input(1).data<float>();
  const Q* zero_point = ctx.has_input(2) ? ctx.input(2).data<Q>() : nullptr;
  float* dst = ctx.output(0).data<float>();
  for (int64_t o = 0; o < layout.outer; ++o) {
    for (int64_t c = 0; c < layout.channels; ++c) {
      const float s = scale[c];
      const int64_t zp = zero_point != nullptr ? int64_t{zero_point[c]} : 0;
      for (int64_t i = 0; i < layout.inner; ++i, ++src, ++dst) {
        // int64 so that int32 x - zero_point cannot overflow.
        *dst = static_cast<float>(int64_t{*src} - zp) * s;
      }
    }
  }
}

Status run_dequantize(KernelContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DType::kUInt8: dequantize<uint8_t>(ctx); break;
    case DType::kInt8: dequantize<int8_t>(ctx); break;
    default: dequantize<int32_t>(ctx); break;
  }
  return {};
}

}  // namespace

void register_quantize_ops(OpRegistry& registry) {
  registry.add({"QuantizeLinear", infer_quantize, run_quantize});
  registry.add({"DequantizeLinear", infer_dequantize, run_dequantize});
}

}  // namespace kestrel::elementwise
