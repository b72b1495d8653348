// Expand and Tile: both repeat the input, so both are strided copies with
// stride 0 along the repeated axes.
#include <algorithm>

#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

Status infer_expand(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "shape"));
  std::vector<int64_t> shape;
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 1, "shape", &shape));
  const Shape& in = ctx.input_shape(0);
  const size_t rank = std::max(in.size(), shape.size());
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {
    // Right-aligned, missing leading dims count as 1.
    const int64_t a = k + in.size() >= rank ? in[k + in.size() - rank] : 1;
    const int64_t b = k + shape.size() >= rank ? shape[k + shape.size() - rank] : 1;
    if (b < 0) return ctx.error("shape ", shape_string(shape), " has a negative dim");
    if (a == b || b == 1) {
      out[k] = a;
    } else if (a == 1 || a < 0) {
      out[k] = b;
    } else {
      return ctx.error("input shape ", shape_string(in), " cannot be broadcast to ", shape_string(shape));
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

Status run_expand(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  Tensor& dst = ctx.output(0);
  const std::vector<int64_t> in_strides = strides_of(src.shape());
  const size_t offset = dst.shape().size() - src.shape().size();
  std::vector<int64_t> strides(dst.shape().size(), 0);
  for (size_t j = 0; j < src.shape().size(); ++j) {
    if (src.shape()[j] != 1) strides[j + offset] = in_strides[j];
  }
  return strided_copy(src, 0, dst.shape(), strides, dst);
}

Status infer_tile(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "repeats"));
  std::vector<int64_t> repeats;
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 1, "repeats", &repeats));
  const Shape& in = ctx.input_shape(0);
  if (repeats.size() != in.size()) {
    return ctx.error("repeats has ", repeats.size(), " entries but the input has rank ", in.size());
  }
  Shape out(in.size());
  for (size_t k = 0; k < in.size(); ++k) {
    if (repeats[k] < 0) return ctx.error("repeats ", shape_string(repeats), " has a negative entry");
    out[k] = dim_mul(in[k], repeats[k]);
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

Status run_tile(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  const std::vector<int64_t> in_strides = strides_of(src.shape());
  // The output seen as [r0, d0, r1, d1, ...]: repeat index, then input index.
  Shape view;
  std::vector<int64_t> strides;
  for (size_t k = 0; k < src.shape().size(); ++k) {
    const int64_t repeats = ctx.output(0).dim(static_cast<int64_t>(k)) / std::max<int64_t>(src.shape()[k], 1);
    view.insert(view.end(), {repeats, src.shape()[k]});
    strides.insert(strides.end(), {0, in_strides[k]});
  }
  return strided_copy(src, 0, view, strides, ctx.output(0));
}

}  // namespace

void register_expand_tile_ops(OpRegistry& registry) {
  registry.add({"Expand", infer_expand, run_expand});
  registry.add({"Tile", infer_tile, run_tile});
}

}  // namespace kestrel::tensor_ops
