// PoolPrimitive: oneDNN max / average pooling (pooling_v2, which has
// dilations) on NHWC activations.
#include <algorithm>

#include "kernels/onednn/onednn_internal.h"

namespace kestrel::onednn {
namespace {

const char* kind_name(PoolKind kind) {
  switch (kind) {
    case PoolKind::kMax: return "MaxPool";
    case PoolKind::kAvgIncludePad: return "AveragePool (count_include_pad)";
    case PoolKind::kAvgExcludePad: return "AveragePool";
  }
  return "Pool";
}

std::string describe(const PoolParams& p) {
  return str_cat("oneDNN ", kind_name(p.kind), " ", p.kernel_h, "x", p.kernel_w, " on ", p.channels, "x", p.in_h, "x",
                 p.in_w, " (stride ", p.stride_h, "x", p.stride_w, ")");
}

// One spatial dim of the window.
struct Axis {
  int64_t in, out, kernel, stride, dilation, pad_begin, pad_end;
};

// The end padding oneDNN needs to produce exactly `out` windows: the given
// pad, or more when out_h/out_w come from ONNX ceil_mode and the last
// window overhangs the padded input.
StatusOr<int64_t> effective_pad_end(const Axis& a, bool include_pad, const std::string& what) {
  const int64_t extent = (a.kernel - 1) * a.dilation + 1;
  if (a.pad_begin >= extent || a.pad_end >= extent) {
    return invalid_argument(what, ": pads must be smaller than the kernel extent ", extent);
  }
  const int64_t needed = (a.out - 1) * a.stride + extent - a.in - a.pad_begin;
  if (needed <= a.pad_end) {
    const int64_t floor_out = (a.in + a.pad_begin + a.pad_end - extent) / a.stride + 1;
    if (a.out != floor_out) return invalid_argument(what, ": output size ", a.out, " does not match the window");
    return a.pad_end;
  }
  if ((a.out - 1) * a.stride - a.pad_begin >= a.in) {
    return invalid_argument(what, ": output size ", a.out, " has windows past the end of the input");
  }
  if (include_pad) {
    // ONNX divides overhanging windows by their padded extent, oneDNN by the kernel size.
    return unimplemented(what, ": ceil_mode with count_include_pad is not supported");
  }
  return needed;
}

Status check_params(const PoolParams& p, const std::string& what) {
  const bool positive = p.batch > 0 && p.channels > 0 && p.in_h > 0 && p.in_w > 0 && p.out_h > 0 && p.out_w > 0 &&
                        p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 &&
                        p.dilation_w > 0;
  if (!positive) return invalid_argument(what, ": dims, kernel, strides and dilations must be positive");
  if (p.pad_top < 0 || p.pad_left < 0 || p.pad_bottom < 0 || p.pad_right < 0) {
    return invalid_argument(what, ": pads must be >= 0");
  }
  if (p.kind != PoolKind::kMax && (p.dilation_h != 1 || p.dilation_w != 1)) {
    return unimplemented(what, ": dilations are supported for max pooling only");
  }
  return {};
}

dnnl::algorithm pool_algorithm(PoolKind kind) {
  switch (kind) {
    case PoolKind::kMax: return dnnl::algorithm::pooling_max;
    case PoolKind::kAvgIncludePad: return dnnl::algorithm::pooling_avg_include_padding;
    case PoolKind::kAvgExcludePad: return dnnl::algorithm::pooling_avg_exclude_padding;
  }
  return dnnl::algorithm::pooling_max;
}

dnnl::pooling_v2_forward::primitive_desc make_pd(const PoolParams& p, const Dims& pad_r) {
  const memory::desc src({p.batch, p.channels, p.in_h, p.in_w}, data_type(p.type), Tag::nhwc);
  const memory::desc dst({p.batch, p.channels, p.out_h, p.out_w}, data_type(p.type), Tag::nhwc);
  const Dims strides = {p.stride_h, p.stride_w}, kernel = {p.kernel_h, p.kernel_w};
  const Dims dilation = {p.dilation_h - 1, p.dilation_w - 1};  // oneDNN: 0 = dense
  const Dims pad_l = {p.pad_top, p.pad_left};
  // Inference needs no workspace (max-pool indices are for backward only).
  const dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, pool_algorithm(p.kind), src, dst,
                                            strides, kernel, dilation, pad_l, pad_r);
  return {desc, make_plain_attr(), Engine::instance().engine};
}

}  // namespace

StatusOr<std::unique_ptr<PoolPrimitive>> PoolPrimitive::create(const PoolParams& params) {
  const std::string what = describe(params);
  KESTREL_RETURN_IF_ERROR(check_params(params, what));
  const bool include_pad = params.kind == PoolKind::kAvgIncludePad;
  KESTREL_ASSIGN_OR_RETURN(const int64_t pad_bottom,
                           effective_pad_end({params.in_h, params.out_h, params.kernel_h, params.stride_h,
                                              params.dilation_h, params.pad_top, params.pad_bottom},
                                             include_pad, what));
  KESTREL_ASSIGN_OR_RETURN(const int64_t pad_right,
                           effective_pad_end({params.in_w, params.out_w, params.kernel_w, params.stride_w,
                                              params.dilation_w, params.pad_left, params.pad_right},
                                             include_pad, what));
  return guarded(what, [&]() -> StatusOr<std::unique_ptr<PoolPrimitive>> {
    const auto pd = make_pd(params, {pad_bottom, pad_right});
    auto compiled = std::make_unique<detail::CompiledPrimitive>(pd);
    return std::unique_ptr<PoolPrimitive>(new PoolPrimitive(params, std::move(compiled)));
  });
}

PoolPrimitive::PoolPrimitive(const PoolParams& params, std::unique_ptr<detail::CompiledPrimitive> compiled)
    : params_(params), compiled_(std::move(compiled)) {}

PoolPrimitive::~PoolPrimitive() = default;

bool PoolPrimitive::run(const void* src_nhwc, void* dst_nhwc) const { return compiled_->run(src_nhwc, dst_nhwc); }

std::string PoolPrimitive::implementation() const { return compiled_->implementation(); }

}  // namespace kestrel::onednn
