// Calls a generic lambda with a value of the C++ type matching a DType, so a
// kernel written once as a template runs on every type it is meant for.
//
//   return dispatch_float(ctx.input(0).dtype(), [&](auto tag) {
//     using T = decltype(tag);
//     ...
//     return Status{};
//   });
#pragma once

#include <cstdint>

#include "base/status.h"
#include "ir/dtype.h"

namespace kestrel {

// float32 and float64.
template <typename F>
Status dispatch_float(DType dtype, F&& fn) {
  switch (dtype) {
    case DType::kFloat32: return fn(float{});
    case DType::kFloat64: return fn(double{});
    default: return unimplemented("element type ", dtype_name(dtype), " is not supported here");
  }
}

// Every signed and unsigned integer type.
template <typename F>
Status dispatch_integer(DType dtype, F&& fn) {
  switch (dtype) {
    case DType::kInt8: return fn(int8_t{});
    case DType::kUInt8: return fn(uint8_t{});
    case DType::kInt16: return fn(int16_t{});
    case DType::kUInt16: return fn(uint16_t{});
    case DType::kInt32: return fn(int32_t{});
    case DType::kUInt32: return fn(uint32_t{});
    case DType::kInt64: return fn(int64_t{});
    case DType::kUInt64: return fn(uint64_t{});
    default: return unimplemented("element type ", dtype_name(dtype), " is not supported here");
  }
}

// Floats and integers (not bool, not float16).
template <typename F>
Status dispatch_numeric(DType dtype, F&& fn) {
  if (dtype == DType::kFloat32 || dtype == DType::kFloat64) return dispatch_float(dtype, fn);
  return dispatch_integer(dtype, fn);
}

// Every storable type, by element size only: for ops that move data without
// looking at it (Transpose, Concat, Gather, Slice, ...).
template <typename F>
Status dispatch_by_size(DType dtype, F&& fn) {
  switch (dtype_size(dtype)) {
    case 1: return fn(uint8_t{});
    case 2: return fn(uint16_t{});
    case 4: return fn(uint32_t{});
    case 8: return fn(uint64_t{});
    default: return unimplemented("element type ", dtype_name(dtype), " is not supported here");
  }
}

}  // namespace kestrel
