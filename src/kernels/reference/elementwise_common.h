// Private to the elementwise op files: their register functions (all called
// from register_elementwise_ops) and the small helpers they share.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/dispatch.h"
#include "kernels/op_registry.h"

namespace kestrel::elementwise {

void register_activation_ops(OpRegistry& registry);  // Relu, LeakyRelu, PRelu, Clip, Sigmoid, ...
void register_unary_math_ops(OpRegistry& registry);  // Sqrt, Exp, Log, Neg, Abs, ...
void register_binary_ops(OpRegistry& registry);      // Add, Sub, Mul, Div, Pow, Equal
void register_variadic_ops(OpRegistry& registry);    // Min, Max, Sum, Where
void register_cast_ops(OpRegistry& registry);        // Cast, Identity, Dropout
void register_quantize_ops(OpRegistry& registry);    // QuantizeLinear, DequantizeLinear

// A set of element types, one bit per DType.
using DTypeSet = uint32_t;
constexpr DTypeSet dtype_bit(DType dtype) { return DTypeSet{1} << static_cast<int>(dtype); }
inline constexpr DTypeSet kFloatTypes = dtype_bit(DType::kFloat32) | dtype_bit(DType::kFloat64);
inline constexpr DTypeSet kSignedIntTypes =
    dtype_bit(DType::kInt8) | dtype_bit(DType::kInt16) | dtype_bit(DType::kInt32) | dtype_bit(DType::kInt64);
inline constexpr DTypeSet kUnsignedIntTypes =
    dtype_bit(DType::kUInt8) | dtype_bit(DType::kUInt16) | dtype_bit(DType::kUInt32) | dtype_bit(DType::kUInt64);
inline constexpr DTypeSet kIntTypes = kSignedIntTypes | kUnsignedIntTypes;
inline constexpr DTypeSet kNumericTypes = kFloatTypes | kIntTypes;
// The integer types ONNX allowed in arithmetic before opset 14.
inline constexpr DTypeSet kWideIntTypes =
    dtype_bit(DType::kInt32) | dtype_bit(DType::kInt64) | dtype_bit(DType::kUInt32) | dtype_bit(DType::kUInt64);

// "float32, float64, int32".
std::string dtype_set_string(DTypeSet set);

// Fails unless the node has between min and max outputs.
Status expect_outputs(const InferContext& ctx, size_t min, size_t max);

// Fails unless input i's type is in `supported`. float16 (which the spec
// allows almost everywhere but only Cast implements) is reported as
// unimplemented, any other type as invalid.
Status check_input_dtype(const InferContext& ctx, size_t i, DTypeSet supported);

// Fails unless inputs i and j have the same element type.
Status check_same_dtype(const InferContext& ctx, size_t i, size_t j);

// Fails unless input i holds exactly one element (a scalar, or shape [1]).
Status check_single_element(const InferContext& ctx, size_t i, const char* what);

// Validates a one-input op whose output has the input's type and shape.
Status infer_same_as_input(InferContext& ctx, DTypeSet supported);

// Numeric types and bool.
template <typename F>
Status dispatch_numeric_or_bool(DType dtype, F&& fn) {
  if (dtype == DType::kBool) return fn(bool{});
  return dispatch_numeric(dtype, fn);
}

// A float16 element. Arithmetic and comparison go through float32, each
// result rounded back to half, which is what IEEE half arithmetic gives.
struct Half {
  uint16_t bits;
};
inline bool operator<(Half a, Half b) { return half_to_float(a.bits) < half_to_float(b.bits); }
inline bool operator>(Half a, Half b) { return half_to_float(a.bits) > half_to_float(b.bits); }
inline Half operator+(Half a, Half b) { return Half{float_to_half(half_to_float(a.bits) + half_to_float(b.bits))}; }

// NaN test for any element type (always false for integers).
template <typename T>
bool is_nan_value(T value) {
  if constexpr (std::is_same_v<T, Half>) return (value.bits & 0x7fff) > 0x7c00;
  else if constexpr (std::is_floating_point_v<T>) return std::isnan(value);
  else return false;
}

// Float to integer conversion that truncates toward zero and saturates at
// I's range; NaN becomes 0. (A plain static_cast is undefined out of range.)
template <typename I, typename F>
I saturate_cast(F value) {
  if (std::isnan(value)) return I(0);
  if (value <= static_cast<F>(std::numeric_limits<I>::lowest())) return std::numeric_limits<I>::lowest();
  // max() may round up when converted to F, so compare with >= and clamp.
  if (value >= static_cast<F>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(value);
}

// dst[i] = fn(src[i]) for tensors of the same size.
template <typename S, typename D, typename Fn>
void map_elements(const Tensor& src, Tensor& dst, Fn fn) {
  const S* in = src.data<S>();
  D* out = dst.data<D>();
  const int64_t n = src.size();
  for (int64_t i = 0; i < n; ++i) out[i] = fn(in[i]);
}

// dst[i] = op(src[i]) over input 0 for the float types; `op` is generic
// (takes `auto`) and is instantiated for float and double.
template <typename Op>
Status run_float_map(KernelContext& ctx, Op op) {
  return dispatch_float(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    map_elements<T, T>(ctx.input(0), ctx.output(0), [&](T x) { return static_cast<T>(op(x)); });
    return Status{};
  });
}

}  // namespace kestrel::elementwise
