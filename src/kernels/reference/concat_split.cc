// Concat and Split: both move whole blocks of (axis dim x inner size)
// elements per outer index, so their kernels are byte copies.
#include <cstring>
#include <numeric>

#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

Status infer_concat(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, SIZE_MAX));
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.error("input ", i, " is missing");
  }
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  if (!ctx.attrs().has("axis")) return ctx.error("the axis attribute is required");
  Shape out = ctx.input_shape(0);
  const auto rank = static_cast<int64_t>(out.size());
  if (rank == 0) return ctx.error("cannot concatenate scalars");
  int64_t axis = 0;
  KESTREL_RETURN_IF_ERROR(normalize_axis(ctx, ctx.attrs().get_int("axis", 0), rank, "axis", &axis));
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    const Shape& shape = ctx.input_shape(i);
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) {
      return ctx.error("input ", i, " is ", dtype_name(ctx.input_dtype(i)), " but input 0 is ",
                       dtype_name(ctx.input_dtype(0)));
    }
    if (shape.size() != out.size()) {
      return ctx.error("input ", i, " has rank ", shape.size(), " but input 0 has rank ", out.size());
    }
    for (size_t k = 0; k < shape.size(); ++k) {
      if (static_cast<int64_t>(k) == axis) {
        out[k] = dim_add(out[k], shape[k]);
      } else if (out[k] < 0) {
        out[k] = shape[k];
      } else if (shape[k] >= 0 && shape[k] != out[k]) {
        return ctx.error("input ", i, " has shape ", shape_string(shape), ", incompatible with input 0's ",
                         shape_string(ctx.input_shape(0)), " outside axis ", axis);
      }
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

Status run_concat(KernelContext& ctx) {
  Tensor& dst = ctx.output(0);
  const int64_t rank = dst.rank();
  int64_t axis = ctx.attrs().get_int("axis", 0);
  if (axis < 0) axis += rank;
  const size_t esize = dtype_size(dst.dtype());
  const int64_t outer = dims_product(dst.shape(), 0, static_cast<size_t>(axis));
  const int64_t inner = dims_product(dst.shape(), static_cast<size_t>(axis) + 1, dst.shape().size());
  auto* d = static_cast<uint8_t*>(dst.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& src = ctx.input(i);
      const size_t block = static_cast<size_t>(src.dim(axis) * inner) * esize;
      if (block == 0) continue;
      std::memcpy(d, static_cast<const uint8_t*>(src.raw_data()) + static_cast<size_t>(o) * block, block);
      d += block;
    }
  }
  return {};
}

// The split sizes: attribute before opset 13, optional input 1 from 13.
Status read_split(const InferContext& ctx, std::vector<int64_t>* split, bool* present) {
  *present = false;
  if (ctx.opset() >= 13) {
    KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 2));
    if (!ctx.has_input(1)) return {};
    KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "split"));
    KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 1, "split", split));
  } else {
    KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    if (!ctx.attrs().has("split")) return {};
    *split = ctx.attrs().get_ints("split");
  }
  *present = true;
  return {};
}

Status infer_split(InferContext& ctx) {
  std::vector<int64_t> split;
  bool present = false;
  KESTREL_RETURN_IF_ERROR(read_split(ctx, &split, &present));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const Shape& in = ctx.input_shape(0);
  int64_t axis = 0;
  KESTREL_RETURN_IF_ERROR(
      normalize_axis(ctx, ctx.attrs().get_int("axis", 0), static_cast<int64_t>(in.size()), "axis", &axis));
  const size_t count = ctx.node().outputs.size();
  if (count == 0) return ctx.error("has no outputs");
  const int64_t dim = in[static_cast<size_t>(axis)];
  if (present) {
    if (split.size() != count) return ctx.error("split has ", split.size(), " entries for ", count, " outputs");
    for (int64_t part : split) {
      if (part < 0) return ctx.error("split ", shape_string(split), " has a negative size");
    }
    const int64_t total = std::accumulate(split.begin(), split.end(), int64_t{0});
    if (dim >= 0 && total != dim) {
      return ctx.error("split ", shape_string(split), " sums to ", total, " but axis ", axis, " has dim ", dim);
    }
  } else {
    const auto parts = static_cast<int64_t>(count);
    if (dim >= 0 && dim % parts != 0) {
      return ctx.error("axis ", axis, " dim ", dim, " cannot be split into ", parts, " equal parts");
    }
    split.assign(count, dim < 0 ? -1 : dim / parts);
  }
  for (size_t i = 0; i < count; ++i) {
    Shape out = in;
    out[static_cast<size_t>(axis)] = split[i];
    ctx.set_output(i, ctx.input_dtype(0), std::move(out));
  }
  return {};
}

Status run_split(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  int64_t axis = ctx.attrs().get_int("axis", 0);
  if (axis < 0) axis += src.rank();
  const size_t esize = dtype_size(src.dtype());
  const int64_t outer = dims_product(src.shape(), 0, static_cast<size_t>(axis));
  const int64_t inner = dims_product(src.shape(), static_cast<size_t>(axis) + 1, src.shape().size());
  const auto* s = static_cast<const uint8_t*>(src.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t i = 0; i < ctx.num_outputs(); ++i) {
      Tensor& dst = ctx.output(i);
      const size_t block = static_cast<size_t>(dst.dim(axis) * inner) * esize;
      if (block == 0) continue;
      std::memcpy(static_cast<uint8_t*>(dst.raw_data()) + static_cast<size_t>(o) * block, s, block);
      s += block;
    }
  }
  return {};
}

}  // namespace

void register_concat_split_ops(OpRegistry& registry) {
  registry.add({"Concat", infer_concat, run_concat});
  registry.add({"Split", infer_split, run_split});
}

}  // namespace kestrel::tensor_ops
