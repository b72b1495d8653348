// InnerProductPrimitive: ONNX Gemm (and Flatten + Gemm) as a oneDNN
// forward-inference inner product. alpha is folded into the weights and
// beta * C into the bias at creation, so run() is a plain inner product.
#include <vector>

#include "kernels/onednn/onednn_internal.h"

namespace kestrel::onednn {
namespace {

std::string describe(const InnerProductParams& p) {
  return str_cat("oneDNN Gemm ", p.batch, "x", p.in_features, " * ", p.in_features, "x", p.out_features,
                 p.trans_b ? " (transB)" : "");
}

Status check_params(const InnerProductParams& p, const Tensor& b, const std::string& what) {
  if (p.batch <= 0 || p.in_features <= 0 || p.out_features <= 0 || p.src_h <= 0 || p.src_w <= 0) {
    return invalid_argument(what, ": dims must be positive");
  }
  if (p.in_features % (p.src_h * p.src_w) != 0) {
    return invalid_argument(what, ": in_features is not divisible by src_h * src_w = ", p.src_h * p.src_w);
  }
  const Shape want = p.trans_b ? Shape{p.out_features, p.in_features} : Shape{p.in_features, p.out_features};
  if (b.dtype() != DType::kFloat32 || b.shape() != want) {
    return invalid_argument(what, ": B must be float32 ", shape_string(want), ", got ", dtype_name(b.dtype()), " ",
                            shape_string(b.shape()));
  }
  return {};
}

// beta * C as a per-output bias. Empty when there is none; unimplemented
// when C varies along the batch (a real matrix addend, not a bias).
StatusOr<std::vector<float>> folded_bias(const InnerProductParams& p, const Tensor* c, const std::string& what) {
  if (c == nullptr || p.beta == 0.0f) return std::vector<float>{};
  if (c->dtype() != DType::kFloat32) return invalid_argument(what, ": C must be float32");
  std::vector<float> bias(static_cast<size_t>(p.out_features));
  if (c->size() == 1) {
    bias.assign(bias.size(), p.beta * c->data<float>()[0]);
    return bias;
  }
  const Shape& shape = c->shape();
  bool per_output = !shape.empty() && shape.back() == p.out_features;
  for (size_t i = 0; per_output && i + 1 < shape.size(); ++i) per_output = shape[i] == 1;
  if (!per_output) {
    return unimplemented(what, ": C ", shape_string(shape), " is not broadcastable to [", p.out_features,
                         "]; only a per-output bias is supported");
  }
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = p.beta * c->data<float>()[i];
  return bias;
}

// B as a row-major [out_features, in_features] matrix scaled by alpha, with
// K in the order of the source as stored. ONNX flattens a 4-D source in
// (c, h, w) order but this backend stores it NHWC, i.e. (h, w, c): permuting
// K here keeps the source a plain 2-D matrix, which oneDNN's brgemm inner
// product handles (a 4-D nhwc source falls back to its gemm path).
std::vector<float> canonical_weights(const InnerProductParams& p, const Tensor& b) {
  const int64_t k_total = p.in_features, spatial = p.src_h * p.src_w, channels = k_total / spatial;
  const float* src = b.data<float>();
  std::vector<float> dst(static_cast<size_t>(p.out_features * k_total));
  for (int64_t o = 0; o < p.out_features; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t s = 0; s < spatial; ++s) {
        const int64_t k_onnx = c * spatial + s, k_nhwc = s * channels + c;
        const float value = p.trans_b ? src[o * k_total + k_onnx] : src[k_onnx * p.out_features + o];
        dst[static_cast<size_t>(o * k_total + k_nhwc)] = p.alpha * value;
      }
    }
  }
  return dst;
}

dnnl::inner_product_forward::primitive_desc make_pd(const InnerProductParams& p, bool with_bias) {
  const memory::desc src({p.batch, p.in_features}, kF32, Tag::nc);
  // `any`: let the kernel pick its blocked weight layout; we reorder once.
  const memory::desc weights({p.out_features, p.in_features}, kF32, Tag::any);
  const memory::desc bias = with_bias ? memory::desc({p.out_features}, kF32, Tag::x) : memory::desc();
  const memory::desc dst({p.batch, p.out_features}, kF32, Tag::nc);
  const dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src, weights, bias, dst);
  return {desc, make_attr(p.activation, p.sum), Engine::instance().engine};
}

}  // namespace

StatusOr<std::unique_ptr<InnerProductPrimitive>> InnerProductPrimitive::create(const InnerProductParams& params,
                                                                               const Tensor& b, const Tensor* c) {
  const std::string what = describe(params);
  KESTREL_RETURN_IF_ERROR(check_params(params, b, what));
  return guarded(what, [&]() -> StatusOr<std::unique_ptr<InnerProductPrimitive>> {
    KESTREL_ASSIGN_OR_RETURN(const std::vector<float> bias, folded_bias(params, c, what));
    // alpha * (A B) == A (alpha B): scaling the weights keeps run() a plain
    // inner product on every oneDNN version (2.x output scales are gone in 3.x).
    const std::vector<float> weights = canonical_weights(params, b);
    const auto pd = make_pd(params, !bias.empty());
    auto compiled = std::make_unique<detail::CompiledPrimitive>(pd);
    const memory user_weights =
        wrap_const(memory::desc({params.out_features, params.in_features}, kF32, Tag::oi), weights.data());
    compiled->bind(DNNL_ARG_WEIGHTS, reorder_to(user_weights, pd.weights_desc()));
    if (!bias.empty()) {
      const memory user_bias = wrap_const(memory::desc({params.out_features}, kF32, Tag::x), bias.data());
      compiled->bind(DNNL_ARG_BIAS, reorder_to(user_bias, pd.bias_desc()));
    }
    return std::unique_ptr<InnerProductPrimitive>(new InnerProductPrimitive(params, std::move(compiled)));
  });
}

InnerProductPrimitive::InnerProductPrimitive(const InnerProductParams& params,
                                             std::unique_ptr<detail::CompiledPrimitive> compiled)
    : params_(params), compiled_(std::move(compiled)) {}

InnerProductPrimitive::~InnerProductPrimitive() = default;

bool InnerProductPrimitive::run(const void* src, void* dst) const { return compiled_->run(src, dst); }

std::string InnerProductPrimitive::implementation() const { return compiled_->implementation(); }

}  // namespace kestrel::onednn
