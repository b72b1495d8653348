// ConvPrimitive: oneDNN forward-inference convolution on NHWC activations,
// weights reordered once into the layout the chosen kernel wants.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "kernels/onednn/onednn_internal.h"

namespace kestrel::onednn {
namespace {

std::string describe(const ConvParams& p) {
  return str_cat("oneDNN Conv ", p.kernel_h, "x", p.kernel_w, " ", p.in_channels, "->", p.out_channels, " on ", p.in_h,
                 "x", p.in_w, " (stride ", p.stride_h, "x", p.stride_w, ", groups ", p.groups, ")");
}

bool is_int8(const ConvParams& p) { return p.src_type != ElementType::kF32; }

DType weight_dtype(const ConvParams& p) { return is_int8(p) ? DType::kInt8 : DType::kFloat32; }

int64_t expected_out(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin, int64_t pad_end) {
  const int64_t extent = (kernel - 1) * dilation + 1;
  return (in + pad_begin + pad_end - extent) / stride + 1;
}

Status check_geometry(const ConvParams& p, const Tensor* bias, const std::string& what) {
  const bool positive = p.batch > 0 && p.in_channels > 0 && p.in_h > 0 && p.in_w > 0 && p.out_channels > 0 &&
                        p.out_h > 0 && p.out_w > 0 && p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 &&
                        p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0 && p.groups > 0;
  if (!positive) return invalid_argument(what, ": dims, strides, dilations and groups must be positive");
  if (p.pad_top < 0 || p.pad_left < 0 || p.pad_bottom < 0 || p.pad_right < 0) {
    return invalid_argument(what, ": pads must be >= 0");
  }
  if (p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0) {
    return invalid_argument(what, ": channels are not divisible by groups");
  }
  const DType bias_type = is_int8(p) ? DType::kInt32 : DType::kFloat32;
  if (bias != nullptr && (bias->dtype() != bias_type || bias->size() != p.out_channels)) {
    return invalid_argument(what, ": bias must be ", dtype_name(bias_type), " with ", p.out_channels, " elements");
  }
  if (is_int8(p)) {
    const size_t scales = p.output_scales.size();
    if (scales != 1 && scales != static_cast<size_t>(p.out_channels)) {
      return invalid_argument(what, ": int8 conv needs 1 or ", p.out_channels, " output scales, got ", scales);
    }
    if (p.sum && element_size(p.sum_type) != element_size(p.dst_type)) {
      return invalid_argument(what, ": the residual's element type must have the output's size");
    }
    if (!(p.post_scale > 0.0f) || !std::isfinite(p.post_scale)) {
      return invalid_argument(what, ": post_scale must be positive and finite");
    }
  } else if (p.dst_type != ElementType::kF32 || !p.output_scales.empty() || p.post_scale != 1.0f) {
    return invalid_argument(what, ": a float32 conv writes float32 and takes no output scales");
  }
  if (p.out_h != expected_out(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, p.pad_top, p.pad_bottom) ||
      p.out_w != expected_out(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, p.pad_left, p.pad_right)) {
    return invalid_argument(what, ": output ", p.out_h, "x", p.out_w, " does not match the window");
  }
  return {};
}

Status check_params(const ConvParams& p, const Tensor& weight, const Tensor* bias, const std::string& what) {
  const Shape want_w = {p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w};
  if (weight.dtype() != weight_dtype(p) || weight.shape() != want_w) {
    return invalid_argument(what, ": weight must be ", dtype_name(weight_dtype(p)), " ", shape_string(want_w), ", got ",
                            dtype_name(weight.dtype()), " ", shape_string(weight.shape()));
  }
  return check_geometry(p, bias, what);
}

// FNV-1a over the fields that define a layout, so padding bytes inside
// oneDNN's struct never make two equal layouts differ.
class Fingerprint {
 public:
  template <typename T>
  void add(const T& value) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
    for (size_t i = 0; i < sizeof(T); ++i) hash_ = (hash_ ^ bytes[i]) * 0x100000001B3ULL;
  }
  template <typename T>
  void add_all(const T* values, int count) {
    for (int i = 0; i < count; ++i) add(values[i]);
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xCBF29CE484222325ULL;
};

// Kestrel's name for a weight layout this process created: the
// implementation, the oneDNN library's version and a fingerprint of the
// locally created descriptor. Equal keys mean this build of oneDNN, choosing
// the same kernel, wants exactly the same bytes.
std::string layout_key(const dnnl::convolution_forward::primitive_desc& pd) {
  const dnnl_memory_desc_t& d = pd.weights_desc().data;
  const int ndims = std::clamp(d.ndims, 0, DNNL_MAX_NDIMS);
  Fingerprint print;
  print.add(d.ndims);
  print.add_all(d.dims, ndims);
  print.add(d.data_type);
  print.add_all(d.padded_dims, ndims);
  print.add_all(d.padded_offsets, ndims);
  print.add(d.offset0);
  print.add(d.format_kind);
  if (d.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& blocking = d.format_desc.blocking;
    const int blocks = std::clamp(blocking.inner_nblks, 0, DNNL_MAX_NDIMS);
    print.add_all(blocking.strides, ndims);
    print.add(blocking.inner_nblks);
    print.add_all(blocking.inner_blks, blocks);
    print.add_all(blocking.inner_idxs, blocks);
  }
  print.add(d.extra.flags);
  print.add(d.extra.compensation_mask);
  print.add(d.extra.scale_adjust);
  print.add(d.extra.asymm_compensation_mask);
  print.add(pd.weights_desc().get_size());
  const dnnl_version_t* version = dnnl_version();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(print.value()));
  return str_cat("onednn ", version->major, ".", version->minor, ".", version->patch, " ", pd.impl_info_str(), " ",
                 hex);
}

void bind_bias(detail::CompiledPrimitive& compiled, const ConvParams& params, const Tensor* bias,
               const dnnl::convolution_forward::primitive_desc& pd) {
  if (bias == nullptr) return;
  const auto type = is_int8(params) ? memory::data_type::s32 : kF32;
  const memory user_bias = wrap_const(memory::desc({params.out_channels}, type, Tag::x), bias->raw_data());
  compiled.bind(DNNL_ARG_BIAS, reorder_to(user_bias, pd.bias_desc()));
}

// Weights as oneDNN names them: [O, I, H, W], or [G, O/G, I/G, H, W] when grouped.
Dims weight_dims(const ConvParams& p) {
  if (p.groups == 1) return {p.out_channels, p.in_channels, p.kernel_h, p.kernel_w};
  return {p.groups, p.out_channels / p.groups, p.in_channels / p.groups, p.kernel_h, p.kernel_w};
}

// OIHW (GOIHW when grouped) user weights reordered into the layout `pd` wants.
memory pack_plain(const ConvParams& p, const Tensor& weight_oihw, const dnnl::convolution_forward::primitive_desc& pd) {
  const Tag user_tag = p.groups == 1 ? Tag::oihw : Tag::goihw;
  const auto weight_type = is_int8(p) ? memory::data_type::s8 : kF32;
  return reorder_to(wrap_const(memory::desc(weight_dims(p), weight_type, user_tag), weight_oihw.raw_data()),
                    pd.weights_desc());
}

dnnl::convolution_forward::primitive_desc make_pd(const ConvParams& p, bool with_bias) {
  const memory::desc src({p.batch, p.in_channels, p.in_h, p.in_w}, data_type(p.src_type), Tag::nhwc);
  const memory::desc dst({p.batch, p.out_channels, p.out_h, p.out_w}, data_type(p.dst_type), Tag::nhwc);
  // `any`: let the kernel pick its blocked weight layout; we reorder once.
  const auto weight_type = is_int8(p) ? memory::data_type::s8 : kF32;
  const memory::desc weights(weight_dims(p), weight_type, Tag::any);
  const auto bias_type = is_int8(p) ? memory::data_type::s32 : kF32;
  const memory::desc bias = with_bias ? memory::desc({p.out_channels}, bias_type, Tag::x) : memory::desc();
  // oneDNN counts dilation from 0 (= dense), ONNX from 1.
  const Dims strides = {p.stride_h, p.stride_w}, dilates = {p.dilation_h - 1, p.dilation_w - 1};
  const Dims pad_l = {p.pad_top, p.pad_left}, pad_r = {p.pad_bottom, p.pad_right};
  const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             src, weights, bias, dst, strides, dilates, pad_l, pad_r);
  const QuantAttr quant{
      .output_scales = &p.output_scales, .sum_scale = p.sum_scale, .sum_type = p.sum_type, .post_scale = p.post_scale};
  return {desc, make_attr(p.activation, p.sum, quant), Engine::instance().engine};
}

}  // namespace

StatusOr<std::unique_ptr<ConvPrimitive>> ConvPrimitive::create(const ConvParams& params, const Tensor& weight_oihw,
                                                               const Tensor* bias) {
  const std::string what = describe(params);
  KESTREL_RETURN_IF_ERROR(check_params(params, weight_oihw, bias, what));
  return guarded(what, [&]() -> StatusOr<std::unique_ptr<ConvPrimitive>> {
    const auto pd = make_pd(params, bias != nullptr);
    auto compiled = std::make_unique<detail::CompiledPrimitive>(pd);
    const memory packed = pack_plain(params, weight_oihw, pd);
    compiled->bind(DNNL_ARG_WEIGHTS, packed);
    bind_bias(*compiled, params, bias, pd);
    std::unique_ptr<ConvPrimitive> conv(new ConvPrimitive(params, std::move(compiled)));
    conv->weights_ = {packed.get_data_handle(), pd.weights_desc().get_size(), layout_key(pd)};
    return conv;
  });
}

StatusOr<std::unique_ptr<ConvPrimitive>> ConvPrimitive::create_cached(const ConvParams& params,
                                                                      const Tensor& weight_oihw,
                                                                      const PackedWeights& cached, const Tensor* bias) {
  const std::string what = describe(params);
  KESTREL_RETURN_IF_ERROR(check_params(params, weight_oihw, bias, what));
  return guarded(what, [&]() -> StatusOr<std::unique_ptr<ConvPrimitive>> {
    const auto pd = make_pd(params, bias != nullptr);
    auto compiled = std::make_unique<detail::CompiledPrimitive>(pd);
    // Only the locally created descriptor ever describes the cached bytes.
    const memory::desc& wanted = pd.weights_desc();
    const std::string key = layout_key(pd);
    const bool in_place = cached.data != nullptr && cached.key == key && cached.bytes == wanted.get_size() &&
                          reinterpret_cast<uintptr_t>(cached.data) % kTensorAlignment == 0;
    memory packed;
    if (in_place) {
      packed = wrap_const(wanted, cached.data);
    } else {
      packed = pack_plain(params, weight_oihw, pd);
    }
    compiled->bind(DNNL_ARG_WEIGHTS, packed);
    bind_bias(*compiled, params, bias, pd);
    std::unique_ptr<ConvPrimitive> conv(new ConvPrimitive(params, std::move(compiled)));
    conv->weights_ = {packed.get_data_handle(), wanted.get_size(), key};
    conv->weights_in_place_ = in_place;
    return conv;
  });
}

PackedWeights ConvPrimitive::packed_weights() const { return weights_; }

ConvPrimitive::ConvPrimitive(const ConvParams& params, std::unique_ptr<detail::CompiledPrimitive> compiled)
    : params_(params), compiled_(std::move(compiled)) {}

ConvPrimitive::~ConvPrimitive() = default;

bool ConvPrimitive::run(const void* src_nhwc, void* dst_nhwc) const { return compiled_->run(src_nhwc, dst_nhwc); }

std::string ConvPrimitive::implementation() const { return compiled_->implementation(); }

}  // namespace kestrel::onednn
