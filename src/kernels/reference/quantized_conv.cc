// QFusedConv (domain "kestrel"): the int8 form of FusedConv that the
// quantizer creates. Integer accumulation, then one float requantization step
// with the rounding and saturation the fast kernels use:
//
//   acc[n,o,y,x] = sum over (c, ky, kx) of src[n,c,...] * weight[o,c,ky,kx]   (int32)
//   v = output_scales[o] * (float(acc) + float(bias[o])) [+ sum_scale * float(sum)]
//   dst = saturate(round_half_even(post_scale * activation(v)))   (dst int8/uint8)
//   dst = post_scale * activation(v)                               (dst float32)
//
// Inputs: X (int8/uint8, zero point 0), W (int8, symmetric), [B] (int32),
// [Sum] (int8/uint8, the output's shape). Attributes: the Conv ones, the
// activation ones, output_scales (1 or one per output channel), sum_scale,
// post_scale (default 1), output_type ("int8", "uint8" or "float32").
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/activation.h"
#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

constexpr size_t kWeightInput = 1, kBiasInput = 2, kSumInput = 3;

bool is_byte_type(DType dtype) { return dtype == DType::kInt8 || dtype == DType::kUInt8; }

Status infer_qconv(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 4));
  if (!is_byte_type(ctx.input_dtype(0)))
    return ctx.error("X must be int8 or uint8, got ", dtype_name(ctx.input_dtype(0)));
  if (ctx.input_dtype(kWeightInput) != DType::kInt8 && ctx.input_dtype(kWeightInput) != DType::kUInt8) {
    return ctx.error("W must be int8 (or a packed uint8 blob), got ", dtype_name(ctx.input_dtype(kWeightInput)));
  }
  if (ctx.has_input(kBiasInput) && ctx.input_dtype(kBiasInput) != DType::kInt32) {
    return ctx.error("B must be int32, got ", dtype_name(ctx.input_dtype(kBiasInput)));
  }
  KESTREL_ASSIGN_OR_RETURN(const DType output_type, quantized_output_type(ctx.node()));
  const Shape& x = ctx.input_shape(0);
  Shape w = ctx.attrs().has(kWeightShapeAttr) ? ctx.attrs().get_ints(kWeightShapeAttr) : ctx.input_shape(kWeightInput);
  if (x.size() != 4 || w.size() != 4) return ctx.error("only 2-D convolutions are quantized");
  const int64_t groups = ctx.attrs().get_int("group", 1);
  if (groups <= 0 || (x[1] >= 0 && x[1] != w[1] * groups)) {
    return ctx.error("X has ", x[1], " channels but W expects ", w[1], " x ", groups, " groups");
  }
  if (w[0] % groups != 0) return ctx.error("output channels ", w[0], " of W are not divisible by group ", groups);
  const auto scales = ctx.attrs().get_floats(kOutputScalesAttr);
  if (scales.size() != 1 && static_cast<int64_t>(scales.size()) != w[0]) {
    return ctx.error("output_scales has ", scales.size(), " entries; expected 1 or ", w[0]);
  }
  const float post_scale = ctx.attrs().get_float(kPostScaleAttr, 1.0f);
  if (!(post_scale > 0.0f) || !std::isfinite(post_scale)) return ctx.error("post_scale must be positive and finite");
  nn::Window window;
  KESTREL_RETURN_IF_ERROR(nn::compute_window(ctx.node(), {x[2], x[3]}, {w[2], w[3]}, {}, &window));
  const Shape out = {x[0], w[0], window.out[0], window.out[1]};
  if (ctx.has_input(kSumInput)) {
    if (ctx.input_shape(kSumInput) != out || dtype_size(ctx.input_dtype(kSumInput)) != dtype_size(output_type)) {
      return ctx.error("sum input ", dtype_name(ctx.input_dtype(kSumInput)), " ",
                       shape_string(ctx.input_shape(kSumInput)), " does not match the output ", dtype_name(output_type),
                       " ", shape_string(out));
    }
  }
  ctx.set_output(0, output_type, out);
  return {};
}

template <typename Src>
std::vector<int32_t> accumulate(const Tensor& x, const Tensor& w, const nn::Window& window, int64_t groups,
                                const Shape& out) {
  const int64_t batch = out[0], out_channels = out[1], out_h = out[2], out_w = out[3];
  const int64_t in_channels = x.dim(1), in_h = x.dim(2), in_w = x.dim(3);
  const int64_t group_in = in_channels / groups, group_out = out_channels / groups;
  const int64_t kernel_h = w.dim(2), kernel_w = w.dim(3);
  const Src* src = x.data<Src>();
  const int8_t* weight = w.data<int8_t>();
  std::vector<int32_t> acc(static_cast<size_t>(shape_size(out)), 0);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t o = 0; o < out_channels; ++o) {
      const int64_t g = o / group_out;
      for (int64_t oy = 0; oy < out_h; ++oy) {
        for (int64_t ox = 0; ox < out_w; ++ox) {
          int32_t sum = 0;
          for (int64_t c = 0; c < group_in; ++c) {
            for (int64_t ky = 0; ky < kernel_h; ++ky) {
              const int64_t iy = oy * window.strides[0] - window.pads_begin[0] + ky * window.dilations[0];
              if (iy < 0 || iy >= in_h) continue;
              for (int64_t kx = 0; kx < kernel_w; ++kx) {
                const int64_t ix = ox * window.strides[1] - window.pads_begin[1] + kx * window.dilations[1];
                if (ix < 0 || ix >= in_w) continue;
                const int32_t s = src[((n * in_channels + g * group_in + c) * in_h + iy) * in_w + ix];
                sum += s * weight[((o * group_in + c) * kernel_h + ky) * kernel_w + kx];
              }
            }
          }
          acc[static_cast<size_t>(((n * out_channels + o) * out_h + oy) * out_w + ox)] = sum;
        }
      }
    }
  }
  return acc;
}

template <typename Dst>
void store(const std::vector<float>& values, Tensor& dst) {
  Dst* out = dst.data<Dst>();
  if constexpr (std::is_same_v<Dst, float>) {
    std::copy(values.begin(), values.end(), out);
  } else {
    constexpr float lo = std::numeric_limits<Dst>::min(), hi = std::numeric_limits<Dst>::max();
    for (size_t i = 0; i < values.size(); ++i) {
      out[i] = static_cast<Dst>(std::clamp(std::nearbyint(values[i]), lo, hi));
    }
  }
}

float sum_value(const Tensor& sum, size_t i) {
  if (sum.dtype() == DType::kFloat32) return sum.data<float>()[i];
  return sum.dtype() == DType::kUInt8 ? static_cast<float>(sum.data<uint8_t>()[i])
                                      : static_cast<float>(sum.data<int8_t>()[i]);
}

Status run_qconv(KernelContext& ctx) {
  if (ctx.node().attrs.has(kWeightShapeAttr)) return ctx.error("packed weights run on the fast CPU kernels only");
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(kWeightInput);
  Tensor& dst = ctx.output(0);
  nn::Window window;
  KESTREL_RETURN_IF_ERROR(nn::compute_window(ctx.node(), {x.dim(2), x.dim(3)}, {w.dim(2), w.dim(3)}, {}, &window));
  const int64_t groups = ctx.attrs().get_int("group", 1);
  const std::vector<int32_t> acc = x.dtype() == DType::kUInt8 ? accumulate<uint8_t>(x, w, window, groups, dst.shape())
                                                              : accumulate<int8_t>(x, w, window, groups, dst.shape());
  const auto scales = ctx.attrs().get_floats(kOutputScalesAttr);
  const float sum_scale = ctx.attrs().get_float(kSumScaleAttr, 1.0f);
  KESTREL_ASSIGN_OR_RETURN(const Activation activation, activation_from_attributes(ctx.attrs()));
  const int64_t channels = dst.dim(1), plane = dst.dim(2) * dst.dim(3);
  std::vector<float> values(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t o = static_cast<int64_t>(i) / plane % channels;
    const float bias = ctx.has_input(kBiasInput) ? static_cast<float>(ctx.input(kBiasInput).data<int32_t>()[o]) : 0.0f;
    float v = scales[scales.size() == 1 ? 0 : static_cast<size_t>(o)] * (static_cast<float>(acc[i]) + bias);
    if (ctx.has_input(kSumInput)) v += sum_scale * sum_value(ctx.input(kSumInput), i);
    values[i] = v;
  }
  apply_activation(activation, values.data(), static_cast<int64_t>(values.size()));
  const float post_scale = ctx.attrs().get_float(kPostScaleAttr, 1.0f);
  if (post_scale != 1.0f) {
    for (float& v : values) v *= post_scale;
  }
  if (dst.dtype() == DType::kUInt8) store<uint8_t>(values, dst);
  else if (dst.dtype() == DType::kInt8) store<int8_t>(values, dst);
  else store<float>(values, dst);
  return {};
}

}  // namespace

StatusOr<DType> quantized_output_type(const Node& node) {
  const std::string type = node.attrs.get_string(kOutputTypeAttr, "");
  for (DType dtype : {DType::kInt8, DType::kUInt8, DType::kFloat32}) {
    if (type == dtype_name(dtype)) return dtype;
  }
  return invalid_argument(node.label(), ": output_type must be int8, uint8 or float32, got '", type, "'");
}

void register_quantized_ops(OpRegistry& registry) { registry.add({"QFusedConv", infer_qconv, run_qconv}); }

}  // namespace kestrel
