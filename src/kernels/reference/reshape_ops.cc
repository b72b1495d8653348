// Ops that change only the shape, never the bytes: Flatten, Reshape,
// Squeeze, Unsqueeze. Their kernels copy the input buffer unchanged.
#include <algorithm>

#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

Status infer_flatten(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const Shape& in = ctx.input_shape(0);
  const int64_t rank = static_cast<int64_t>(in.size());
  int64_t axis = ctx.attrs().get_int("axis", 1);
  // Unlike most axes, Flatten's may equal the rank (everything goes to dim 0).
  if (axis < -rank || axis > rank) {
    return ctx.error("axis ", axis, " is out of range for rank ", rank, " (valid: [", -rank, ", ", rank, "])");
  }
  if (axis < 0) axis += rank;
  const auto split = static_cast<size_t>(axis);
  ctx.set_output(0, ctx.input_dtype(0), {dims_product(in, 0, split), dims_product(in, split, in.size())});
  return {};
}

// Resolves 0 (copy the input dim) and -1 (infer) entries of Reshape's shape.
Status resolve_reshape(const InferContext& ctx, const Shape& in, const std::vector<int64_t>& target, bool allow_zero,
                       Shape* out) {
  out->assign(target.size(), 0);
  int64_t infer_at = -1;
  bool has_zero = false;
  for (size_t i = 0; i < target.size(); ++i) {
    const int64_t value = target[i];
    if (value == -1) {
      if (infer_at >= 0) return ctx.error("shape ", shape_string(target), " has more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else if (value == 0 && !allow_zero) {
      if (i >= in.size()) {
        return ctx.error("shape[", i, "] is 0 (copy the input dim) but the input ", shape_string(in), " has rank ",
                         in.size());
      }
      (*out)[i] = in[i];
    } else if (value < 0) {
      return ctx.error("shape ", shape_string(target), " has the invalid dim ", value);
    } else {
      has_zero = has_zero || value == 0;
      (*out)[i] = value;
    }
  }
  if (allow_zero && has_zero && infer_at >= 0) {
    return ctx.error("shape ", shape_string(target), " has both 0 and -1, which allowzero=1 forbids");
  }
  const int64_t in_size = dims_product(in, 0, in.size());
  int64_t known = 1;
  for (size_t i = 0; i < out->size(); ++i) {
    if (static_cast<int64_t>(i) != infer_at) known = dim_mul(known, (*out)[i]);
  }
  if (known == kOverflowedDim) {
    return ctx.error("shape ", shape_string(target), " has more elements than 64-bit sizes can count");
  }
  if (in_size < 0 || known < 0) {
    if (infer_at >= 0) (*out)[static_cast<size_t>(infer_at)] = -1;
    return {};
  }
  if (infer_at >= 0) {
    if (known == 0 || in_size % known != 0) {
      return ctx.error("cannot reshape ", shape_string(in), " to ", shape_string(target),
                       ": the -1 dim cannot be inferred");
    }
    (*out)[static_cast<size_t>(infer_at)] = in_size / known;
  } else if (known != in_size) {
    return ctx.error("cannot reshape ", shape_string(in), " (", in_size, " elements) to ", shape_string(*out), " (",
                     known, " elements)");
  }
  return {};
}

Status infer_reshape(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "shape"));
  std::vector<int64_t> target;
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 1, "shape", &target));
  const bool allow_zero = ctx.opset() >= 14 && ctx.attrs().get_int("allowzero", 0) != 0;
  Shape out;
  KESTREL_RETURN_IF_ERROR(resolve_reshape(ctx, ctx.input_shape(0), target, allow_zero, &out));
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

// Squeeze and Unsqueeze take axes as an attribute before opset 13 and as
// input 1 from 13. `present` tells whether any were given.
Status read_axes(const InferContext& ctx, bool required, std::vector<int64_t>* axes, bool* present) {
  *present = false;
  if (ctx.opset() >= 13) {
    KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(required ? 2 : 1, 2));
    if (!ctx.has_input(1)) return required ? ctx.error("the axes input is required") : Status{};
    KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "axes"));
    KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 1, "axes", axes));
  } else {
    KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    if (!ctx.attrs().has("axes")) return required ? ctx.error("the axes attribute is required") : Status{};
    *axes = ctx.attrs().get_ints("axes");
  }
  // An empty axes list means the same as none (Squeeze: every 1-dim).
  *present = !axes->empty();
  return {};
}

// Normalizes `axes` against `rank` into flags, rejecting repeats.
Status mark_axes(const InferContext& ctx, const std::vector<int64_t>& axes, int64_t rank, std::vector<bool>* marked) {
  marked->assign(static_cast<size_t>(rank), false);
  for (int64_t axis : axes) {
    int64_t normalized = 0;
    KESTREL_RETURN_IF_ERROR(normalize_axis(ctx, axis, rank, "axis", &normalized));
    if ((*marked)[static_cast<size_t>(normalized)]) return ctx.error("axis ", axis, " is repeated in axes");
    (*marked)[static_cast<size_t>(normalized)] = true;
  }
  return {};
}

Status infer_squeeze(InferContext& ctx) {
  std::vector<int64_t> axes;
  bool present = false;
  KESTREL_RETURN_IF_ERROR(read_axes(ctx, /*required=*/false, &axes, &present));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const Shape& in = ctx.input_shape(0);
  const auto rank = static_cast<int64_t>(in.size());
  std::vector<bool> marked;
  KESTREL_RETURN_IF_ERROR(mark_axes(ctx, axes, rank, &marked));
  if (!present && std::find(in.begin(), in.end(), -1) != in.end()) {
    return unimplemented(ctx.node().label(), ": Squeeze without axes on input shape ", shape_string(in),
                         " with unknown dims");
  }
  Shape out;
  for (size_t k = 0; k < in.size(); ++k) {
    const bool squeeze = present ? marked[k] : in[k] == 1;
    if (!squeeze) {
      out.push_back(in[k]);
    } else if (in[k] != 1 && in[k] != -1) {
      return ctx.error("cannot squeeze axis ", k, " of shape ", shape_string(in), ": its dim is not 1");
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

Status infer_unsqueeze(InferContext& ctx) {
  std::vector<int64_t> axes;
  bool present = false;
  KESTREL_RETURN_IF_ERROR(read_axes(ctx, /*required=*/true, &axes, &present));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const Shape& in = ctx.input_shape(0);
  const auto out_rank = static_cast<int64_t>(in.size() + axes.size());
  std::vector<bool> marked;
  KESTREL_RETURN_IF_ERROR(mark_axes(ctx, axes, out_rank, &marked));
  Shape out;
  size_t next = 0;
  for (const bool is_marked : marked) out.push_back(is_marked ? 1 : in[next++]);
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

}  // namespace

void register_reshape_ops(OpRegistry& registry) {
  registry.add({"Flatten", infer_flatten, copy_input_kernel});
  registry.add({"Reshape", infer_reshape, copy_input_kernel});
  registry.add({"Squeeze", infer_squeeze, copy_input_kernel});
  registry.add({"Unsqueeze", infer_unsqueeze, copy_input_kernel});
}

}  // namespace kestrel::tensor_ops
