// Reference kernels of ChannelScale, ChannelAffine, QGlobalAveragePool,
// ChannelShuffle and QConcat (see
// kernels/channel_ops.h), on NCHW.
#include "kernels/channel_ops.h"

#include "kernels/activation.h"

#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"

namespace kestrel {
namespace {

bool is_byte_type(DType dtype) { return dtype == DType::kInt8 || dtype == DType::kUInt8; }

StatusOr<float> requant_scale(const InferContext& ctx) {
  const float scale = ctx.attrs().get_float(kRequantScaleAttr, 0.0f);
  if (!(scale > 0.0f) || !std::isfinite(scale)) return ctx.error(kRequantScaleAttr, " must be positive and finite");
  return scale;
}

StatusOr<DType> byte_output_type(const InferContext& ctx) {
  KESTREL_ASSIGN_OR_RETURN(const DType type, quantized_output_type(ctx.node()));
  if (!is_byte_type(type)) return ctx.error("output_type must be int8 or uint8, got ", dtype_name(type));
  return type;
}

Status infer_channel_scale(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  const Shape& x = ctx.input_shape(0);
  const Shape& s = ctx.input_shape(1);
  if (x.size() != 4 || s != Shape{x[0], x[1], 1, 1}) {
    return ctx.error("X must be [N,C,H,W] and S [N,C,1,1], got ", shape_string(x), " and ", shape_string(s));
  }
  if (ctx.input_dtype(1) != DType::kFloat32) return ctx.error("S must be float32");
  if (ctx.input_dtype(0) == DType::kFloat32) {
    if (ctx.attrs().has(kRequantScaleAttr) || ctx.attrs().has(kOutputTypeAttr)) {
      return ctx.error("a float32 ChannelScale takes no output_scale or output_type");
    }
    ctx.set_output(0, DType::kFloat32, x);
    return {};
  }
  if (!is_byte_type(ctx.input_dtype(0))) return ctx.error("X must be float32, int8 or uint8");
  KESTREL_RETURN_IF_ERROR(requant_scale(ctx).status());
  KESTREL_ASSIGN_OR_RETURN(const DType type, byte_output_type(ctx));
  ctx.set_output(0, type, x);
  return {};
}

template <typename Src, typename Dst>
void scale_channels(const Tensor& x, const Tensor& s, float requant, Tensor& y) {
  const int64_t planes = x.dim(0) * x.dim(1), pixels = x.dim(2) * x.dim(3);
  const Src* src = x.data<Src>();
  const float* scale = s.data<float>();
  Dst* dst = y.data<Dst>();
  for (int64_t plane = 0; plane < planes; ++plane) {
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t i = plane * pixels + p;
      if constexpr (std::is_same_v<Dst, float>) {
        dst[i] = src[i] * scale[plane];
      } else {
        dst[i] = saturate_round<Dst>(static_cast<float>(src[i]) * (scale[plane] * requant));
      }
    }
  }
}

template <typename Src>
void scale_channels_to(const Tensor& x, const Tensor& s, float requant, Tensor& y) {
  if (y.dtype() == DType::kInt8) scale_channels<Src, int8_t>(x, s, requant, y);
  else scale_channels<Src, uint8_t>(x, s, requant, y);
}

Status run_channel_scale(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const Tensor& s = ctx.input(1);
  Tensor& y = ctx.output(0);
  const float requant = ctx.attrs().get_float(kRequantScaleAttr, 1.0f);
  if (x.dtype() == DType::kFloat32) scale_channels<float, float>(x, s, requant, y);
  else if (x.dtype() == DType::kInt8) scale_channels_to<int8_t>(x, s, requant, y);
  else scale_channels_to<uint8_t>(x, s, requant, y);
  return {};
}

Status infer_channel_affine(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
  const Shape& x = ctx.input_shape(0);
  if (x.size() != 4) return ctx.error("X must be [N,C,H,W], got ", shape_string(x));
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input_dtype(i) != DType::kFloat32) return ctx.error("every input must be float32");
  }
  for (size_t i = 1; i < 3; ++i) {
    if (ctx.input_shape(i) != Shape{x[1]}) {
      return ctx.error(i == 1 ? "Scale" : "Shift", " must be [", x[1], "], got ", shape_string(ctx.input_shape(i)));
    }
  }
  KESTREL_ASSIGN_OR_RETURN(const Activation activation, activation_from_attributes(ctx.attrs()));
  if (activation.kind != ActivationKind::kNone && activation.kind != ActivationKind::kRelu)
    return ctx.error("the only activation ChannelAffine fuses is Relu");
  ctx.set_output(0, DType::kFloat32, x);
  return {};
}

Status run_channel_affine(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const float* scale = ctx.input(1).data<float>();
  const float* shift = ctx.input(2).data<float>();
  const int64_t channels = x.dim(1), pixels = x.dim(2) * x.dim(3);
  const float* src = x.data<float>();
  float* dst = ctx.output(0).data<float>();
  auto activation = activation_from_attributes(ctx.attrs());
  const bool relu = activation.ok() && activation->kind == ActivationKind::kRelu;
  for (int64_t plane = 0; plane < x.dim(0) * channels; ++plane) {
    const int64_t c = plane % channels;
    for (int64_t p = 0; p < pixels; ++p) {
      const float v = std::fma(src[plane * pixels + p], scale[c], shift[c]);
      dst[plane * pixels + p] = relu ? std::max(v, 0.0f) : v;
    }
  }
  return {};
}

Status infer_qgap(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const Shape& x = ctx.input_shape(0);
  if (x.size() != 4) return ctx.error("X must be [N,C,H,W], got ", shape_string(x));
  if (!is_byte_type(ctx.input_dtype(0))) return ctx.error("X must be int8 or uint8");
  KESTREL_RETURN_IF_ERROR(requant_scale(ctx).status());
  KESTREL_ASSIGN_OR_RETURN(const DType type, byte_output_type(ctx));
  ctx.set_output(0, type, {x[0], x[1], 1, 1});
  return {};
}

template <typename Src, typename Dst>
void average_planes(const Tensor& x, float requant, Tensor& y) {
  const int64_t planes = x.dim(0) * x.dim(1), pixels = x.dim(2) * x.dim(3);
  const float multiplier = average_multiplier(requant, pixels);
  const Src* src = x.data<Src>();
  for (int64_t plane = 0; plane < planes; ++plane) {
    int32_t sum = 0;
    for (int64_t p = 0; p < pixels; ++p) sum += src[plane * pixels + p];
    y.data<Dst>()[plane] = saturate_round<Dst>(static_cast<float>(sum) * multiplier);
  }
}

template <typename Src>
void average_planes_to(const Tensor& x, float requant, Tensor& y) {
  if (y.dtype() == DType::kInt8) average_planes<Src, int8_t>(x, requant, y);
  else average_planes<Src, uint8_t>(x, requant, y);
}

Status run_qgap(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const float requant = ctx.attrs().get_float(kRequantScaleAttr, 1.0f);
  if (x.dtype() == DType::kInt8) average_planes_to<int8_t>(x, requant, ctx.output(0));
  else average_planes_to<uint8_t>(x, requant, ctx.output(0));
  return {};
}

Status infer_channel_shuffle(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const Shape& x = ctx.input_shape(0);
  const int64_t groups = ctx.attrs().get_int(kGroupsAttr, 0);
  if (x.size() != 4) return ctx.error("X must be [N,C,H,W], got ", shape_string(x));
  if (groups < 1 || x[1] % groups != 0) return ctx.error("groups ", groups, " does not divide ", x[1], " channels");
  ctx.set_output(0, ctx.input_dtype(0), x);
  return {};
}

Status run_channel_shuffle(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t channels = x.dim(1), groups = ctx.attrs().get_int(kGroupsAttr, 1), per_group = channels / groups;
  const size_t plane = static_cast<size_t>(x.dim(2) * x.dim(3)) * dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  auto* dst = static_cast<uint8_t*>(ctx.output(0).raw_data());
  for (int64_t n = 0; n < x.dim(0); ++n) {
    for (int64_t i = 0; i < groups; ++i) {
      for (int64_t k = 0; k < per_group; ++k) {
        const auto from = static_cast<size_t>(n * channels + i * per_group + k);
        const auto to = static_cast<size_t>(n * channels + k * groups + i);
        std::memcpy(dst + to * plane, src + from * plane, plane);
      }
    }
  }
  return {};
}

Status infer_quantized_concat(InferContext& ctx) {
  if (ctx.num_inputs() < 1) return ctx.error("takes at least one input");
  const std::vector<float> scales = ctx.attrs().get_floats(kInputScalesAttr);
  if (scales.size() != ctx.num_inputs()) {
    return ctx.error(kInputScalesAttr, " has ", scales.size(), " values for ", ctx.num_inputs(), " inputs");
  }
  const int64_t axis = ctx.attrs().get_int("axis", 1);
  if (axis != 1 && axis != -3) return ctx.error("only channels (axis 1) are supported, got axis ", axis);
  Shape out;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i) || !is_byte_type(ctx.input_dtype(i))) return ctx.error("every input must be int8 or uint8");
    if (!(scales[i] > 0.0f) || !std::isfinite(scales[i]))
      return ctx.error(kInputScalesAttr, " must be positive and finite");
    const Shape& x = ctx.input_shape(i);
    if (x.size() != 4) return ctx.error("every input must be [N,C,H,W], got ", shape_string(x));
    if (i == 0) {
      out = x;
      continue;
    }
    if (x[0] != out[0] || x[2] != out[2] || x[3] != out[3]) {
      return ctx.error("inputs differ in batch or size: ", shape_string(out), " and ", shape_string(x));
    }
    out[1] += x[1];
  }
  KESTREL_ASSIGN_OR_RETURN(const DType type, byte_output_type(ctx));
  ctx.set_output(0, type, out);
  return {};
}

template <typename Src, typename Dst>
void requantize_run(const Src* src, float scale, Dst* dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] = saturate_round<Dst>(static_cast<float>(src[j]) * scale);
}

template <typename Dst>
void concat_requantized(KernelContext& ctx, const std::vector<float>& scales, Tensor& y) {
  const int64_t pixels = y.dim(2) * y.dim(3);
  Dst* dst = y.data<Dst>();
  for (int64_t n = 0; n < y.dim(0); ++n) {
    for (size_t i = 0; i < scales.size(); ++i) {
      const Tensor& x = ctx.input(i);
      const int64_t run = x.dim(1) * pixels;
      if (x.dtype() == DType::kInt8) requantize_run(x.data<int8_t>() + n * run, scales[i], dst, run);
      else requantize_run(x.data<uint8_t>() + n * run, scales[i], dst, run);
      dst += run;
    }
  }
}

Status run_quantized_concat(KernelContext& ctx) {
  const std::vector<float> scales = ctx.attrs().get_floats(kInputScalesAttr);
  Tensor& y = ctx.output(0);
  if (y.dtype() == DType::kInt8) concat_requantized<int8_t>(ctx, scales, y);
  else concat_requantized<uint8_t>(ctx, scales, y);
  return {};
}

}  // namespace

void register_channel_ops(OpRegistry& registry) {
  registry.add({kChannelScaleOp, infer_channel_scale, run_channel_scale});
  registry.add({kChannelAffineOp, infer_channel_affine, run_channel_affine});
  registry.add({kQuantizedGlobalAveragePoolOp, infer_qgap, run_qgap});
  registry.add({kChannelShuffleOp, infer_channel_shuffle, run_channel_shuffle});
  registry.add({kQuantizedConcatOp, infer_quantized_concat, run_quantized_concat});
}

}  // namespace kestrel
