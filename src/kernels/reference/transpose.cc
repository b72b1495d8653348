// Axis permutations: Transpose, and DepthToSpace / SpaceToDepth, which are a
// reshape to 6-D followed by a fixed transpose.
#include <string>

#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

// The perm attribute, reversed axes when absent.
std::vector<int64_t> transpose_perm(const Attributes& attrs, size_t rank) {
  if (attrs.has("perm")) return attrs.get_ints("perm");
  std::vector<int64_t> perm(rank);
  for (size_t k = 0; k < rank; ++k) perm[k] = static_cast<int64_t>(rank - 1 - k);
  return perm;
}

Status infer_transpose(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  const Shape& in = ctx.input_shape(0);
  const std::vector<int64_t> perm = transpose_perm(ctx.attrs(), in.size());
  if (perm.size() != in.size()) {
    return ctx.error("perm ", shape_string(perm), " has ", perm.size(), " entries but the input has rank ", in.size());
  }
  std::vector<bool> seen(in.size(), false);
  Shape out(in.size());
  for (size_t k = 0; k < perm.size(); ++k) {
    const int64_t axis = perm[k];
    if (axis < 0 || axis >= static_cast<int64_t>(in.size()) || seen[static_cast<size_t>(axis)]) {
      return ctx.error("perm ", shape_string(perm), " is not a permutation of the input's ", in.size(), " axes");
    }
    seen[static_cast<size_t>(axis)] = true;
    out[k] = in[static_cast<size_t>(axis)];
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

Status run_transpose(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  return permute_copy(src, src.shape(), transpose_perm(ctx.attrs(), src.shape().size()), ctx.output(0));
}

// Checks the shared inputs of DepthToSpace and SpaceToDepth.
Status check_block_op(const InferContext& ctx, int64_t* blocksize) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  if (ctx.input_shape(0).size() != 4) {
    return ctx.error("input must be 4-D (N, C, H, W), got shape ", shape_string(ctx.input_shape(0)));
  }
  if (!ctx.attrs().has("blocksize")) return ctx.error("the blocksize attribute is required");
  *blocksize = ctx.attrs().get_int("blocksize", 0);
  if (*blocksize <= 0) return ctx.error("blocksize must be positive, got ", *blocksize);
  int64_t square = 0;
  if (__builtin_mul_overflow(*blocksize, *blocksize, &square)) {
    return ctx.error("blocksize ", *blocksize, " squared is larger than 64-bit sizes can count");
  }
  return {};
}

int64_t dim_div(int64_t dim, int64_t divisor) { return dim < 0 ? -1 : dim / divisor; }

Status check_divisible(const InferContext& ctx, int64_t dim, int64_t divisor, const char* what) {
  if (dim >= 0 && dim % divisor != 0) return ctx.error(what, " ", dim, " is not a multiple of ", divisor);
  return {};
}

bool is_crd(const Attributes& attrs) { return attrs.get_string("mode", "DCR") == "CRD"; }

Status infer_depth_to_space(InferContext& ctx) {
  int64_t bs = 0;
  KESTREL_RETURN_IF_ERROR(check_block_op(ctx, &bs));
  const std::string mode = ctx.attrs().get_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return ctx.error("mode must be DCR or CRD, got '", mode, "'");
  const Shape& in = ctx.input_shape(0);
  KESTREL_RETURN_IF_ERROR(check_divisible(ctx, in[1], bs * bs, "channel count"));
  ctx.set_output(0, ctx.input_dtype(0), {in[0], dim_div(in[1], bs * bs), dim_mul(in[2], bs), dim_mul(in[3], bs)});
  return {};
}

Status run_depth_to_space(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  const int64_t bs = ctx.attrs().get_int("blocksize", 0);
  const int64_t n = src.dim(0), c = src.dim(1) / (bs * bs), h = src.dim(2), w = src.dim(3);
  // Output [n, c, h, bs, w, bs] read from the blocks as the mode lays them out.
  if (is_crd(ctx.attrs())) return permute_copy(src, {n, c, bs, bs, h, w}, {0, 1, 4, 2, 5, 3}, ctx.output(0));
  return permute_copy(src, {n, bs, bs, c, h, w}, {0, 3, 4, 1, 5, 2}, ctx.output(0));
}

Status infer_space_to_depth(InferContext& ctx) {
  int64_t bs = 0;
  KESTREL_RETURN_IF_ERROR(check_block_op(ctx, &bs));
  const Shape& in = ctx.input_shape(0);
  KESTREL_RETURN_IF_ERROR(check_divisible(ctx, in[2], bs, "height"));
  KESTREL_RETURN_IF_ERROR(check_divisible(ctx, in[3], bs, "width"));
  ctx.set_output(0, ctx.input_dtype(0), {in[0], dim_mul(in[1], bs * bs), dim_div(in[2], bs), dim_div(in[3], bs)});
  return {};
}

Status run_space_to_depth(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  const int64_t bs = ctx.attrs().get_int("blocksize", 0);
  const int64_t n = src.dim(0), c = src.dim(1), h = src.dim(2) / bs, w = src.dim(3) / bs;
  return permute_copy(src, {n, c, h, bs, w, bs}, {0, 3, 5, 1, 2, 4}, ctx.output(0));
}

}  // namespace

void register_transpose_ops(OpRegistry& registry) {
  registry.add({"Transpose", infer_transpose, run_transpose});
  registry.add({"DepthToSpace", infer_depth_to_space, run_depth_to_space});
  registry.add({"SpaceToDepth", infer_space_to_depth, run_space_to_depth});
}

}  // namespace kestrel::tensor_ops
