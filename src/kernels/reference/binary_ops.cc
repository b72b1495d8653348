// Two-input ops with multidirectional broadcasting: Add, Sub, Mul, Div, Pow,
// Equal.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/reference/broadcast.h"
#include "kernels/reference/elementwise_common.h"

namespace kestrel::elementwise {
namespace {

// Integer arithmetic is done in uint64 so that overflow wraps (as numpy and
// ONNX Runtime do) instead of being undefined behaviour.
template <typename T, typename Op>
T wrapping(T a, T b, Op op) {
  return static_cast<T>(op(static_cast<uint64_t>(a), static_cast<uint64_t>(b)));
}

struct AddOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrapping(a, b, [](uint64_t x, uint64_t y) { return x + y; });
    else return a + b;
  }
};

struct SubOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrapping(a, b, [](uint64_t x, uint64_t y) { return x - y; });
    else return a - b;
  }
};

struct MulOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return wrapping(a, b, [](uint64_t x, uint64_t y) { return x * y; });
    else return a * b;
  }
};

// Integer division truncates toward zero (C++ and ONNX Runtime semantics);
// callers rule out a zero divisor first.
struct DivOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) {
      // lowest / -1 overflows; negate with wrap-around instead.
      if (b == T(-1)) return wrapping(T(0), a, [](uint64_t x, uint64_t y) { return x - y; });
    }
    return static_cast<T>(a / b);
  }
};

Status infer_broadcast_output(InferContext& ctx, DType out_dtype) {
  const auto shape = broadcast_shapes({ctx.input_shape(0), ctx.input_shape(1)});
  if (!shape) {
    return ctx.error("input shapes ", shape_string(ctx.input_shape(0)), " and ", shape_string(ctx.input_shape(1)),
                     " cannot be broadcast together");
  }
  ctx.set_output(0, out_dtype, *shape);
  return {};
}

// Add, Sub, Mul, Div: integer types below 32 bits joined at opset 14.
Status infer_arithmetic(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, ctx.opset() >= 14 ? kNumericTypes : kFloatTypes | kWideIntTypes));
  KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  return infer_broadcast_output(ctx, ctx.input_dtype(0));
}

template <typename Op>
Status run_arithmetic(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_binary<T, T, T>(ctx.input(0), ctx.input(1), ctx.output(0), Op{});
    return Status{};
  });
}

Status run_div(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      const Tensor& divisor = ctx.input(1);
      for (int64_t i = 0; i < divisor.size(); ++i) {
        if (divisor.data<T>()[i] == T(0)) return ctx.error("integer division by zero (input 1, element ", i, ")");
      }
    }
    broadcast_binary<T, T, T>(ctx.input(0), ctx.input(1), ctx.output(0), DivOp{});
    return Status{};
  });
}

// ---- Pow: before opset 12 base and exponent are one float type; from 12
// the base is float32/float64/int32/int64 and the exponent any numeric type.
Status infer_pow(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  if (ctx.opset() < 12) {
    KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kFloatTypes));
    KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  } else {
    KESTREL_RETURN_IF_ERROR(
        check_input_dtype(ctx, 0, kFloatTypes | dtype_bit(DType::kInt32) | dtype_bit(DType::kInt64)));
    KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 1, kNumericTypes));
  }
  return infer_broadcast_output(ctx, ctx.input_dtype(0));
}

// Integer power by squaring, wrapping on overflow. A negative exponent gives
// the truncated reciprocal: 1 for base 1, +-1 for base -1, otherwise 0.
template <typename T, typename E>
T integer_pow(T base, E exponent) {
  if constexpr (std::is_signed_v<E>) {
    if (exponent < 0) {
      if (base == T(1)) return T(1);
      if (base == T(-1)) return (exponent % 2 == 0) ? T(1) : T(-1);
      return T(0);
    }
  }
  uint64_t e = static_cast<uint64_t>(exponent);
  uint64_t b = static_cast<uint64_t>(base);
  uint64_t result = 1;
  while (e != 0) {
    if (e & 1) result *= b;
    b *= b;
    e >>= 1;
  }
  return static_cast<T>(result);
}

template <typename T, typename E>
T pow_element(T base, E exponent) {
  if constexpr (std::is_floating_point_v<T> && std::is_same_v<T, E>) {
    return std::pow(base, exponent);
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  } else if constexpr (std::is_integral_v<E>) {
    return integer_pow(base, exponent);
  } else {
    // Integer base, float exponent: computed in double, truncated like numpy's astype.
    return saturate_cast<T>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  }
}

// The base types Pow accepts.
template <typename F>
Status dispatch_pow_base(DType dtype, F&& fn) {
  switch (dtype) {
    case DType::kInt32: return fn(int32_t{});
    case DType::kInt64: return fn(int64_t{});
    default: return dispatch_float(dtype, fn);
  }
}

Status run_pow(KernelContext& ctx) {
  return dispatch_pow_base(ctx.input(0).dtype(), [&](auto base_tag) {
    using T = decltype(base_tag);
    return dispatch_numeric(ctx.input(1).dtype(), [&](auto exponent_tag) {
      using E = decltype(exponent_tag);
      broadcast_binary<T, E, T>(ctx.input(0), ctx.input(1), ctx.output(0),
                                [](T base, E exponent) { return pow_element(base, exponent); });
      return Status{};
    });
  });
}

// ---- Equal
Status infer_equal(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kNumericTypes | dtype_bit(DType::kBool)));
  KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  return infer_broadcast_output(ctx, DType::kBool);
}

Status run_equal(KernelContext& ctx) {
  return dispatch_numeric_or_bool(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_binary<T, T, bool>(ctx.input(0), ctx.input(1), ctx.output(0), [](T a, T b) { return a == b; });
    return Status{};
  });
}

}  // namespace

void register_binary_ops(OpRegistry& registry) {
  registry.add({"Add", infer_arithmetic, run_arithmetic<AddOp>});
  registry.add({"Sub", infer_arithmetic, run_arithmetic<SubOp>});
  registry.add({"Mul", infer_arithmetic, run_arithmetic<MulOp>});
  registry.add({"Div", infer_arithmetic, run_div});
  registry.add({"Pow", infer_pow, run_pow});
  registry.add({"Equal", infer_equal, run_equal});
}

}  // namespace kestrel::elementwise
