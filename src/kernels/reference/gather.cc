// Gather: picks slices of the data along one axis by index. Every picked
// slice is a contiguous block of (inner size) elements, copied as bytes.
#include <cstring>

#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

// Indices with negatives resolved; fails on any outside [-dim, dim).
// The message carries no node label; callers add it.
Status normalize_indices(const Tensor& indices, int64_t dim, std::vector<int64_t>* out) {
  *out = indices.to_int64s();
  for (int64_t& index : *out) {
    if (index < -dim || index >= dim) {
      return invalid_argument("index ", index, " is out of range for an axis of dim ", dim);
    }
    if (index < 0) index += dim;
  }
  return {};
}

Status infer_gather(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "indices", true));
  const Shape& data = ctx.input_shape(0);
  const auto rank = static_cast<int64_t>(data.size());
  if (rank == 0) return ctx.error("data must have rank >= 1, got a scalar");
  int64_t axis = 0;
  KESTREL_RETURN_IF_ERROR(normalize_axis(ctx, ctx.attrs().get_int("axis", 0), rank, "axis", &axis));
  const int64_t dim = data[static_cast<size_t>(axis)];
  if (const Tensor* indices = ctx.input_data(1); indices != nullptr && dim >= 0) {
    std::vector<int64_t> resolved;
    const Status status = normalize_indices(*indices, dim, &resolved);
    if (!status.ok()) return ctx.error(status.message());
  }
  Shape out(data.begin(), data.begin() + axis);
  const Shape& indices_shape = ctx.input_shape(1);
  out.insert(out.end(), indices_shape.begin(), indices_shape.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

Status run_gather(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  int64_t axis = ctx.attrs().get_int("axis", 0);
  if (axis < 0) axis += src.rank();
  const int64_t dim = src.dim(axis);
  std::vector<int64_t> indices;
  const Status status = normalize_indices(ctx.input(1), dim, &indices);
  if (!status.ok()) return ctx.error(status.message());
  const auto k = static_cast<size_t>(axis);
  const int64_t outer = dims_product(src.shape(), 0, k);
  const size_t block =
      static_cast<size_t>(dims_product(src.shape(), k + 1, src.shape().size())) * dtype_size(src.dtype());
  if (block == 0) return {};
  const auto* s = static_cast<const uint8_t*>(src.raw_data());
  auto* d = static_cast<uint8_t*>(ctx.output(0).raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    const uint8_t* slab = s + static_cast<size_t>(o * dim) * block;
    for (int64_t index : indices) {
      std::memcpy(d, slab + static_cast<size_t>(index) * block, block);
      d += block;
    }
  }
  return {};
}

}  // namespace

void register_gather_ops(OpRegistry& registry) { registry.add({"Gather", infer_gather, run_gather}); }

}  // namespace kestrel::tensor_ops
