// ScalePrimitive: oneDNN's reorder with an output scale, used as a fast
// (JIT, vectorized) quantize / dequantize over a flat buffer.
#include <cmath>

#include "kernels/onednn/onednn_internal.h"

namespace kestrel::onednn {

StatusOr<std::unique_ptr<ScalePrimitive>> ScalePrimitive::create(int64_t count, ElementType src_type,
                                                                 ElementType dst_type, float scale) {
  const std::string what = str_cat("oneDNN scale of ", count, " elements");
  if (count <= 0) return invalid_argument(what, ": needs at least one element");
  if (!std::isfinite(scale) || scale <= 0.0f) return invalid_argument(what, ": scale ", scale, " must be positive");
  return guarded(what, [&]() -> StatusOr<std::unique_ptr<ScalePrimitive>> {
    const dnnl::engine& engine = Engine::instance().engine;
    const memory::desc src({count}, data_type(src_type), Tag::x);
    const memory::desc dst({count}, data_type(dst_type), Tag::x);
    dnnl::primitive_attr attr = make_plain_attr();
    constexpr int kPerTensor = 0;
    attr.set_output_scales(kPerTensor, {scale});
    const dnnl::reorder::primitive_desc pd(engine, src, engine, dst, attr);
    return std::unique_ptr<ScalePrimitive>(new ScalePrimitive(std::make_unique<detail::CompiledPrimitive>(pd)));
  });
}

StatusOr<std::unique_ptr<ScalePrimitive>> ScalePrimitive::create_reorder(const Shape& nchw_dims, ElementType type,
                                                                         bool to_nhwc) {
  const std::string what = str_cat("oneDNN reorder of ", shape_string(nchw_dims));
  if (nchw_dims.size() != 4 || shape_size(nchw_dims) <= 0)
    return invalid_argument(what, ": needs a non-empty 4-D shape");
  return guarded(what, [&]() -> StatusOr<std::unique_ptr<ScalePrimitive>> {
    const dnnl::engine& engine = Engine::instance().engine;
    const Dims dims(nchw_dims.begin(), nchw_dims.end());
    const memory::desc src(dims, data_type(type), to_nhwc ? Tag::nchw : Tag::nhwc);
    const memory::desc dst(dims, data_type(type), to_nhwc ? Tag::nhwc : Tag::nchw);
    const dnnl::reorder::primitive_desc pd(engine, src, engine, dst, make_plain_attr());
    return std::unique_ptr<ScalePrimitive>(new ScalePrimitive(std::make_unique<detail::CompiledPrimitive>(pd)));
  });
}

ScalePrimitive::ScalePrimitive(std::unique_ptr<detail::CompiledPrimitive> compiled) : compiled_(std::move(compiled)) {}

ScalePrimitive::~ScalePrimitive() = default;

bool ScalePrimitive::run(const void* src, void* dst) const { return compiled_->run(src, dst); }

std::string ScalePrimitive::implementation() const { return compiled_->implementation(); }

}  // namespace kestrel::onednn
