// One-input math: Sqrt, Exp, Log, Reciprocal, Floor, Ceil (float types),
// Neg (floats and signed integers) and Abs (every numeric type).
#include <cmath>
#include <type_traits>

#include "kernels/reference/elementwise_common.h"

namespace kestrel::elementwise {
namespace {

// Integer negation that wraps (-INT_MIN == INT_MIN) instead of overflowing.
template <typename T>
T wrapping_neg(T x) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(U(0) - static_cast<U>(x));
  } else {
    return -x;
  }
}

Status infer_float_unary(InferContext& ctx) { return infer_same_as_input(ctx, kFloatTypes); }
Status infer_neg(InferContext& ctx) { return infer_same_as_input(ctx, kFloatTypes | kSignedIntTypes); }
Status infer_abs(InferContext& ctx) { return infer_same_as_input(ctx, kNumericTypes); }

Status run_sqrt(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return std::sqrt(x); });
}
Status run_exp(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return std::exp(x); });
}
Status run_log(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return std::log(x); });
}
Status run_floor(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return std::floor(x); });
}
Status run_ceil(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return std::ceil(x); });
}
Status run_reciprocal(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return decltype(x)(1) / x; });
}

Status run_neg(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    map_elements<T, T>(ctx.input(0), ctx.output(0), [](T x) { return wrapping_neg(x); });
    return Status{};
  });
}

Status run_abs(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    map_elements<T, T>(ctx.input(0), ctx.output(0), [](T x) {
      if constexpr (std::is_unsigned_v<T>) {
        return x;
      } else if constexpr (std::is_integral_v<T>) {
        return x < T(0) ? wrapping_neg(x) : x;
      } else {
        return std::fabs(x);
      }
    });
    return Status{};
  });
}

}  // namespace

void register_unary_math_ops(OpRegistry& registry) {
  registry.add({"Sqrt", infer_float_unary, run_sqrt});
  registry.add({"Exp", infer_float_unary, run_exp});
  registry.add({"Log", infer_float_unary, run_log});
  registry.add({"Reciprocal", infer_float_unary, run_reciprocal});
  registry.add({"Floor", infer_float_unary, run_floor});
  registry.add({"Ceil", infer_float_unary, run_ceil});
  registry.add({"Neg", infer_neg, run_neg});
  registry.add({"Abs", infer_abs, run_abs});
}

}  // namespace kestrel::elementwise
