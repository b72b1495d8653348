// Ops over any number of broadcast inputs (Min, Max, Sum) and Where.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/reference/broadcast.h"
#include "kernels/reference/elementwise_common.h"

namespace kestrel::elementwise {
namespace {

// These ops also take float16, which the ONNX node tests use for Min and Max.
constexpr DTypeSet kHalfFloatTypes = kFloatTypes | dtype_bit(DType::kFloat16);

// NaN wins, as with numpy's minimum / maximum.
struct MinOp {
  template <typename T>
  T operator()(T a, T b) const {
    if (is_nan_value(b)) return b;
    return b < a ? b : a;
  }
};

struct MaxOp {
  template <typename T>
  T operator()(T a, T b) const {
    if (is_nan_value(b)) return b;
    return b > a ? b : a;
  }
};

struct SumOp {
  template <typename T>
  T operator()(T a, T b) const {
    return a + b;
  }
};

Status infer_variadic(InferContext& ctx, DTypeSet supported) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, std::numeric_limits<size_t>::max()));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.error("input ", i, " is missing; every input is required");
    KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, i, supported));
    KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 0, i));
    shapes.push_back(ctx.input_shape(i));
  }
  const auto shape = broadcast_shapes(shapes);
  if (!shape) {
    std::string listed;
    for (const Shape& s : shapes) listed += (listed.empty() ? "" : ", ") + shape_string(s);
    return ctx.error("input shapes ", listed, " cannot be broadcast together");
  }
  ctx.set_output(0, ctx.input_dtype(0), *shape);
  return {};
}

// Min and Max took integer types at opset 12.
Status infer_min_max(InferContext& ctx) {
  return infer_variadic(ctx, kHalfFloatTypes | (ctx.opset() >= 12 ? kIntTypes : 0));
}
Status infer_sum(InferContext& ctx) { return infer_variadic(ctx, kHalfFloatTypes); }

// dst = in0 broadcast to dst's shape, then dst = op(dst, in_i) for each further input.
template <typename Op>
Status run_variadic(KernelContext& ctx) {
  auto run = [&](auto tag) {
    using T = decltype(tag);
    Tensor& dst = ctx.output(0);
    broadcast_binary<T, T, T>(dst, ctx.input(0), dst, [](T, T x) { return x; });
    for (size_t i = 1; i < ctx.num_inputs(); ++i) broadcast_binary<T, T, T>(dst, ctx.input(i), dst, Op{});
    return Status{};
  };
  if (ctx.input(0).dtype() == DType::kFloat16) return run(Half{});
  return dispatch_numeric(ctx.input(0).dtype(), run);
}

// ---- Where
Status infer_where(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  if (ctx.input_dtype(0) != DType::kBool) {
    return ctx.error("condition (input 0) must be bool, got ", dtype_name(ctx.input_dtype(0)));
  }
  KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 1, kNumericTypes | dtype_bit(DType::kBool)));
  KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 1, 2));
  const auto shape = broadcast_shapes({ctx.input_shape(0), ctx.input_shape(1), ctx.input_shape(2)});
  if (!shape) {
    return ctx.error("input shapes ", shape_string(ctx.input_shape(0)), ", ", shape_string(ctx.input_shape(1)), ", ",
                     shape_string(ctx.input_shape(2)), " cannot be broadcast together");
  }
  ctx.set_output(0, ctx.input_dtype(1), *shape);
  return {};
}

Status run_where(KernelContext& ctx) {
  // Where only moves elements, so their size is all that matters.
  return dispatch_by_size(ctx.input(1).dtype(), [&](auto tag) {
    using U = decltype(tag);
    broadcast_ternary<bool, U, U, U>(ctx.input(0), ctx.input(1), ctx.input(2), ctx.output(0),
                                     [](bool take_x, U x, U y) { return take_x ? x : y; });
    return Status{};
  });
}

}  // namespace

void register_variadic_ops(OpRegistry& registry) {
  registry.add({"Min", infer_min_max, run_variadic<MinOp>});
  registry.add({"Max", infer_min_max, run_variadic<MaxOp>});
  registry.add({"Sum", infer_sum, run_variadic<SumOp>});
  registry.add({"Where", infer_where, run_where});
}

}  // namespace kestrel::elementwise
