// Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at
// `axis` (default 1) and normalized over the flattened trailing dims; from 13
// on it is normalized along `axis` alone (default -1).
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

// The input viewed as [outer, length, inner], normalized along `length`.
struct SoftmaxLayout {
  int64_t outer = 1, length = 1, inner = 1;
};

Status softmax_layout(const Node& node, int64_t opset, const Shape& shape, SoftmaxLayout* layout) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (rank == 0) return nn::node_error(node, "input must have rank >= 1");
  const bool coerce_2d = opset < 13;
  int64_t axis = 0;
  KESTREL_RETURN_IF_ERROR(nn::normalize_axis(node, node.attrs.get_int("axis", coerce_2d ? 1 : -1), rank, &axis));
  layout->outer = nn::dims_product(shape, 0, axis);
  if (coerce_2d) {
    layout->length = nn::dims_product(shape, axis, rank);
    layout->inner = 1;
  } else {
    layout->length = shape[static_cast<size_t>(axis)];
    layout->inner = nn::dims_product(shape, axis + 1, rank);
  }
  return {};
}

Status infer_softmax(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const DType dtype = ctx.input_dtype(0);
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64) {
    return unimplemented(ctx.node().label(), ": element type ", dtype_name(dtype), " is not supported");
  }
  SoftmaxLayout layout;
  KESTREL_RETURN_IF_ERROR(softmax_layout(ctx.node(), ctx.opset(), ctx.input_shape(0), &layout));
  ctx.set_output(0, dtype, ctx.input_shape(0));
  return {};
}

template <typename T, bool kLog>
Status softmax_kernel(KernelContext& ctx) {
  SoftmaxLayout l;
  KESTREL_RETURN_IF_ERROR(softmax_layout(ctx.node(), ctx.opset(), ctx.input(0).shape(), &l));
  const T* src = ctx.input(0).data<T>();
  T* dst = ctx.output(0).data<T>();
  // One running max and sum per inner position, so every pass reads memory in order.
  std::vector<T> max(static_cast<size_t>(l.inner)), sum(static_cast<size_t>(l.inner));
  for (int64_t o = 0; o < l.outer; ++o) {
    const int64_t base = o * l.length * l.inner;
    std::fill(max.begin(), max.end(), std::numeric_limits<T>::lowest());
    std::fill(sum.begin(), sum.end(), T(0));
    for (int64_t j = 0; j < l.length; ++j) {
      const T* row = src + base + j * l.inner;
      for (int64_t i = 0; i < l.inner; ++i) max[i] = std::max(max[i], row[i]);
    }
    for (int64_t j = 0; j < l.length; ++j) {
      const T* row = src + base + j * l.inner;
      T* out = dst + base + j * l.inner;
      for (int64_t i = 0; i < l.inner; ++i) {
        const T shifted = row[i] - max[i];  // subtracting the max keeps exp from overflowing
        const T e = std::exp(shifted);
        out[i] = kLog ? shifted : e;
        sum[i] += e;
      }
    }
    for (int64_t j = 0; j < l.length; ++j) {
      T* out = dst + base + j * l.inner;
      for (int64_t i = 0; i < l.inner; ++i) out[i] = kLog ? out[i] - std::log(sum[i]) : out[i] / sum[i];
    }
  }
  return {};
}

template <bool kLog>
Status run_softmax(KernelContext& ctx) {
  return dispatch_float(ctx.input(0).dtype(), [&](auto tag) { return softmax_kernel<decltype(tag), kLog>(ctx); });
}

}  // namespace

void register_softmax_ops(OpRegistry& registry) {
  registry.add({"Softmax", infer_softmax, run_softmax<false>});
  registry.add({"LogSoftmax", infer_softmax, run_softmax<true>});
}

}  // namespace kestrel
