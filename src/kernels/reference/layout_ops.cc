// Reorder (domain "kestrel"): changes the physical layout of a 4-D tensor
// between plain NCHW and channels-last NHWC; the logical shape is unchanged.
// The layout pass inserts it where a kernel needs the other layout.
//
// LayoutView (domain "kestrel"): Y is X's bytes as they are, under another
// logical shape (attribute `shape`). The layout pass writes it for a
// Transpose that only relabels a channels-last tensor's bytes: (0,2,3,1) of
// an NHWC [N,C,H,W] is the plain [N,H,W,C], and (0,3,1,2) of a plain
// [N,H,W,C] is the NHWC [N,C,H,W]. The memory planner gives Y X's bytes, so
// nothing is copied.
#include <cstring>

#include "kernels/op_registry.h"

namespace kestrel {

namespace {

// dst[n][h][w][c] = src[n][c][h][w] (to_nhwc) or the inverse.
template <typename T>
void reorder_elements(const T* src, T* dst, const Shape& shape, bool to_nhwc) {
  const int64_t batch = shape[0], channels = shape[1], plane = shape[2] * shape[3];
  for (int64_t n = 0; n < batch; ++n) {
    const T* s = src + n * channels * plane;
    T* d = dst + n * channels * plane;
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t p = 0; p < plane; ++p) {
        if (to_nhwc) d[p * channels + c] = s[c * plane + p];
        else d[c * plane + p] = s[p * channels + c];
      }
    }
  }
}

}  // namespace

void reorder_4d(const float* src, float* dst, const Shape& shape, bool to_nhwc) {
  reorder_elements(src, dst, shape, to_nhwc);
}

namespace {

Status infer_reorder(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const std::string to = ctx.attrs().get_string("to", "");
  if (to != "NHWC" && to != "NCHW") return ctx.error("attribute 'to' must be NHWC or NCHW, got '", to, "'");
  const DType dtype = ctx.input_dtype(0);
  if (ctx.input_shape(0).size() != 4 || (dtype != DType::kFloat32 && dtype != DType::kInt8 && dtype != DType::kUInt8)) {
    return ctx.error("reorders float32, int8 and uint8 4-D tensors only, got ", dtype_name(ctx.input_dtype(0)), " ",
                     shape_string(ctx.input_shape(0)));
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return {};
}

Status run_reorder(KernelContext& ctx) {
  const bool to_nhwc = ctx.attrs().get_string("to", "") == "NHWC";
  if (ctx.input(0).dtype() == DType::kFloat32) {
    reorder_4d(ctx.input(0).data<float>(), ctx.output(0).data<float>(), ctx.input(0).shape(), to_nhwc);
  } else {  // int8 and uint8 move as bytes
    reorder_elements(static_cast<const uint8_t*>(ctx.input(0).raw_data()),
                     static_cast<uint8_t*>(ctx.output(0).raw_data()), ctx.input(0).shape(), to_nhwc);
  }
  return {};
}

Status infer_layout_view(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const Shape shape = ctx.attrs().get_ints("shape", {});
  if (shape_size(shape) != shape_size(ctx.input_shape(0)) || shape.empty()) {
    return ctx.error("shape ", shape_string(shape), " does not hold the elements of ",
                     shape_string(ctx.input_shape(0)));
  }
  ctx.set_output(0, ctx.input_dtype(0), shape);
  return {};
}

Status run_layout_view(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  Tensor& dst = ctx.output(0);
  if (src.nbytes() != 0 && dst.raw_data() != src.raw_data()) std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
  return {};
}

}  // namespace

void register_layout_ops(OpRegistry& registry) {
  registry.add({"Reorder", infer_reorder, run_reorder});
  registry.add({"LayoutView", infer_layout_view, run_layout_view});
}

}  // namespace kestrel
