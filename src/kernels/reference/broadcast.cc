#include "kernels/reference/broadcast.h"

#include <algorithm>

namespace kestrel {

std::optional<Shape> broadcast_shapes(const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (size_t axis = 0; axis < rank; ++axis) {
    bool unknown = false;
    int64_t known = 1;
    for (const Shape& s : shapes) {
      const size_t lead = rank - s.size();
      if (axis < lead) continue;
      const int64_t dim = s[axis - lead];
      if (dim < 0) {
        unknown = true;
      } else if (dim != 1) {
        if (known != 1 && known != dim) return std::nullopt;
        known = dim;
      }
    }
    // An unknown dim next to only 1s could be anything; next to n it must be n or 1.
    out[axis] = (unknown && known == 1) ? -1 : known;
  }
  return out;
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    const int64_t dim = from[i];
    const int64_t target = to[lead + i];
    if (dim != 1 && dim != target && dim >= 0 && target >= 0) return false;
  }
  return true;
}

template <size_t N>
BroadcastPlan<N> plan_broadcast(const Shape& out_shape, const std::array<const Shape*, N>& in_shapes) {
  const size_t rank = out_shape.size();
  // Each input's dims aligned to the output's rank, and its row-major strides.
  std::array<Shape, N> dims;
  std::array<std::vector<int64_t>, N> strides;
  for (size_t k = 0; k < N; ++k) {
    const Shape& s = *in_shapes[k];
    dims[k].assign(rank - s.size(), 1);
    dims[k].insert(dims[k].end(), s.begin(), s.end());
    strides[k].assign(rank, 0);
    int64_t stride = 1;
    for (size_t axis = rank; axis-- > 0;) {
      strides[k][axis] = stride;
      stride *= dims[k][axis];
    }
  }

  BroadcastPlan<N> plan;
  std::array<bool, N> previous_flags{};
  for (size_t axis = 0; axis < rank; ++axis) {
    const int64_t extent = out_shape[axis];
    if (extent == 1) continue;  // contributes nothing to any index
    std::array<bool, N> flags{};
    for (size_t k = 0; k < N; ++k) flags[k] = dims[k][axis] == 1;
    if (!plan.dims.empty() && flags == previous_flags) {
      // Same pattern as the previous kept axis: fold this axis into it.
      plan.dims.back() *= extent;
      for (size_t k = 0; k < N; ++k) {
        if (!flags[k]) plan.strides[k].back() = strides[k][axis];
      }
      continue;
    }
    plan.dims.push_back(extent);
    for (size_t k = 0; k < N; ++k) plan.strides[k].push_back(flags[k] ? 0 : strides[k][axis]);
    previous_flags = flags;
  }
  return plan;
}

template BroadcastPlan<1> plan_broadcast<1>(const Shape&, const std::array<const Shape*, 1>&);
template BroadcastPlan<2> plan_broadcast<2>(const Shape&, const std::array<const Shape*, 2>&);
template BroadcastPlan<3> plan_broadcast<3>(const Shape&, const std::array<const Shape*, 3>&);

}  // namespace kestrel
