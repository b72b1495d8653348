// Numpy-style broadcasting: the shape rule (multidirectional and
// unidirectional) and loops that walk a broadcast output row by row, so
// kernels index inputs without a division per element.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ir/tensor.h"

namespace kestrel {

// The broadcast of all `shapes` (numpy rules: align from the right, a dim of
// 1 stretches). A dim of -1 (unknown) is kept unknown unless another shape
// fixes it. nullopt when two known dims differ and neither is 1.
std::optional<Shape> broadcast_shapes(const std::vector<Shape>& shapes);

// True when `from` broadcasts to exactly `to` (ONNX "unidirectional").
bool broadcasts_to(const Shape& from, const Shape& to);

// A broadcast folded into as few dims as possible: adjacent dims are merged
// while every input either spans both or is broadcast along both. strides[k]
// holds input k's element strides over `dims` (0 where it is broadcast).
template <size_t N>
struct BroadcastPlan {
  Shape dims;
  std::array<std::vector<int64_t>, N> strides;
};

// Plans how N inputs map onto `out_shape`; each input must broadcast to it.
template <size_t N>
BroadcastPlan<N> plan_broadcast(const Shape& out_shape, const std::array<const Shape*, N>& in_shapes);

// Calls fn(offsets, steps, out_offset, count) once per innermost row of the
// plan: input k's elements are at offsets[k] + j * steps[k] for j < count,
// the output's at out_offset + j.
template <size_t N, typename Fn>
void for_each_broadcast_row(const BroadcastPlan<N>& plan, Fn&& fn) {
  const size_t rank = plan.dims.size();
  std::array<int64_t, N> offsets{};
  std::array<int64_t, N> steps{};
  if (rank == 0) {
    steps.fill(0);
    fn(offsets, steps, int64_t{0}, int64_t{1});
    return;
  }
  for (int64_t d : plan.dims) {
    if (d == 0) return;
  }
  const int64_t count = plan.dims[rank - 1];
  for (size_t k = 0; k < N; ++k) steps[k] = plan.strides[k][rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t out_offset = 0;
  while (true) {
    fn(offsets, steps, out_offset, count);
    out_offset += count;
    // Odometer over the outer dims, updating offsets incrementally.
    size_t axis = rank - 1;
    while (true) {
      if (axis == 0) return;
      --axis;
      ++index[axis];
      for (size_t k = 0; k < N; ++k) offsets[k] += plan.strides[k][axis];
      if (index[axis] < plan.dims[axis]) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= plan.strides[k][axis] * plan.dims[axis];
      index[axis] = 0;
    }
  }
}

// dst[i] = op(a[ia], b[ib]) over the broadcast of a and b, whose shape dst
// already has. A and B are the element types of a and b, O that of dst.
template <typename A, typename B, typename O, typename Op>
void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& dst, Op op) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  O* out = dst.data<O>();
  const int64_t n = dst.size();
  const bool a_full = a.shape() == dst.shape();
  const bool b_full = b.shape() == dst.shape();
  if (a_full && b_full) {
    for (int64_t i = 0; i < n; ++i) out[i] = op(pa[i], pb[i]);
  } else if (a_full && b.size() == 1) {
    const B scalar = pb[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(pa[i], scalar);
  } else if (b_full && a.size() == 1) {
    const A scalar = pa[0];
    for (int64_t i = 0; i < n; ++i) out[i] = op(scalar, pb[i]);
  } else {
    const auto plan = plan_broadcast<2>(dst.shape(), {&a.shape(), &b.shape()});
    for_each_broadcast_row(plan, [&](const auto& offsets, const auto& steps, int64_t o, int64_t count) {
      const A* ra = pa + offsets[0];
      const B* rb = pb + offsets[1];
      for (int64_t j = 0; j < count; ++j) out[o + j] = op(ra[j * steps[0]], rb[j * steps[1]]);
    });
  }
}

// dst[i] = op(a[ia], b[ib], c[ic]) over the broadcast of three inputs.
template <typename A, typename B, typename C, typename O, typename Op>
void broadcast_ternary(const Tensor& a, const Tensor& b, const Tensor& c, Tensor& dst, Op op) {
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  const C* pc = c.data<C>();
  O* out = dst.data<O>();
  if (a.shape() == dst.shape() && b.shape() == dst.shape() && c.shape() == dst.shape()) {
    for (int64_t i = 0; i < dst.size(); ++i) out[i] = op(pa[i], pb[i], pc[i]);
    return;
  }
  const auto plan = plan_broadcast<3>(dst.shape(), {&a.shape(), &b.shape(), &c.shape()});
  for_each_broadcast_row(plan, [&](const auto& offsets, const auto& steps, int64_t o, int64_t count) {
    for (int64_t j = 0; j < count; ++j) {
      out[o + j] = op(pa[offsets[0] + j * steps[0]], pb[offsets[1] + j * steps[1]], pc[offsets[2] + j * steps[2]]);
    }
  });
}

extern template BroadcastPlan<1> plan_broadcast<1>(const Shape&, const std::array<const Shape*, 1>&);
extern template BroadcastPlan<2> plan_broadcast<2>(const Shape&, const std::array<const Shape*, 2>&);
extern template BroadcastPlan<3> plan_broadcast<3>(const Shape&, const std::array<const Shape*, 3>&);

}  // namespace kestrel
