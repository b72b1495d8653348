// Private to the tensor/shape op group: per-file register functions and the
// small helpers those files share (axis handling, reading constant inputs,
// strided data movement).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/op_registry.h"

namespace kestrel::tensor_ops {

void register_reshape_ops(OpRegistry& registry);    // Flatten, Reshape, Squeeze, Unsqueeze
void register_transpose_ops(OpRegistry& registry);  // Transpose, DepthToSpace, SpaceToDepth
void register_concat_split_ops(OpRegistry& registry);
void register_slice_ops(OpRegistry& registry);
void register_pad_ops(OpRegistry& registry);
void register_resize_ops(OpRegistry& registry);
void register_gather_ops(OpRegistry& registry);
void register_constant_ops(OpRegistry& registry);  // Constant, ConstantOfShape, Shape, Range
void register_expand_tile_ops(OpRegistry& registry);

// -1 marks a dim not known at compile time; these keep it unknown.
// A result beyond int64 is kOverflowedDim, which stays so.
inline int64_t dim_mul(int64_t a, int64_t b) {
  if (a == kOverflowedDim || b == kOverflowedDim) return kOverflowedDim;
  if (a < 0 || b < 0) return -1;
  int64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? kOverflowedDim : product;
}
inline int64_t dim_add(int64_t a, int64_t b) {
  if (a == kOverflowedDim || b == kOverflowedDim) return kOverflowedDim;
  if (a < 0 || b < 0) return -1;
  int64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? kOverflowedDim : sum;
}
// Product of dims [begin, end); -1 when any of them is unknown.
int64_t dims_product(const Shape& shape, size_t begin, size_t end);

// Maps `axis` in [-rank, rank) to [0, rank), or fails naming `what`.
Status normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank, const char* what, int64_t* out);

// Fails unless input `i` has a type Tensor can store (not string).
Status expect_storable(const InferContext& ctx, size_t i);
// Fails unless input `i` is int64 (or int32 too, when allow_int32).
Status expect_index_type(const InferContext& ctx, size_t i, const char* what, bool allow_int32 = false);

// Reads a shape-determining integer input. Unimplemented when its value is
// not known at compile time; invalid when it is not 1-D (or 0-D with allow_scalar).
Status read_int_input(const InferContext& ctx, size_t i, const char* what, std::vector<int64_t>* out,
                      bool allow_scalar = false);
// The unimplemented status for an output shape that depends on input `i`.
Status not_constant_error(const InferContext& ctx, size_t i);

// Row-major strides of `shape`, in elements.
std::vector<int64_t> strides_of(const Shape& shape);

// Fills the dense `dst`, viewed as `out_shape` (same element count), with
// src elements: dst index (i0..in) reads src element
// `src_offset + sum(ik * src_strides[k])` (strides in elements, may be 0 or
// negative). Works on any storable type; copies contiguous runs with memcpy.
Status strided_copy(const Tensor& src, int64_t src_offset, const Shape& out_shape,
                    const std::vector<int64_t>& src_strides, Tensor& dst);

// Views the dense src as `view_shape`, permutes the view's axes by `perm`
// (output axis k is view axis perm[k]) and writes the result to dst.
Status permute_copy(const Tensor& src, const Shape& view_shape, const std::vector<int64_t>& perm, Tensor& dst);

// Shared kernel of the ops whose output is the input's bytes (Reshape, ...).
Status copy_input_kernel(KernelContext& ctx);

// The bit pattern of `value` in `dtype`, for filling with memcpy.
std::vector<uint8_t> encode_scalar(DType dtype, double value);

}  // namespace kestrel::tensor_ops
