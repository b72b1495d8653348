#include "ir/dtype.h"

#include <cmath>
#include <cstring>

namespace kestrel {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kUInt8:
    case DType::kInt8: return 1;
    case DType::kUInt16:
    case DType::kInt16: return 2;
    case DType::kInt32: return 4;
    case DType::kInt64: return 8;
    case DType::kBool: return 1;
    case DType::kFloat16: return 2;
    case DType::kFloat64: return 8;
    case DType::kUInt32: return 4;
    case DType::kUInt64: return 8;
    case DType::kString:
    case DType::kUndefined: return 0;
  }
  return 0;
}

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kUInt16: return "uint16";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kFloat64: return "float64";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
    case DType::kString: return "string";
    case DType::kUndefined: return "undefined";
  }
  return "dtype(" + std::to_string(static_cast<int>(dtype)) + ")";
}

bool dtype_is_supported(DType dtype) { return dtype_size(dtype) != 0; }

DType dtype_from_int(int32_t value) {
  if (value < 0 || value > static_cast<int32_t>(DType::kUInt64)) return DType::kUndefined;
  return static_cast<DType>(value);
}

float half_to_float(uint16_t half) {
  const uint32_t sign = (half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1f;
  const uint32_t mantissa = half & 0x3ff;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // subnormal
  } else if (exponent == 0x1f) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), static_cast<int>(exponent) - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &magnitude, sizeof(bits));
  bits |= sign;
  float result;
  std::memcpy(&result, &bits, sizeof(result));
  return result;
}

uint16_t float_to_half(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits >= 0x7f800000u) {  // inf or nan
    return sign | (abs_bits > 0x7f800000u ? 0x7e00 : 0x7c00);
  }
  if (abs_bits >= 0x477ff000u) return sign | 0x7c00;  // rounds to inf
  if (abs_bits < 0x38800000u) {                       // subnormal or zero in half
    float magnitude;
    std::memcpy(&magnitude, &abs_bits, sizeof(magnitude));
    // Scale so the half subnormal step (2^-24) becomes 1, then round to even.
    const float scaled = magnitude * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  // Normal: rebias exponent, round mantissa to 10 bits, nearest even.
  const uint32_t rounding = 0xfffu + ((abs_bits >> 13) & 1u);
  const uint32_t rounded = abs_bits + rounding;
  return sign | static_cast<uint16_t>((rounded - 0x38000000u) >> 13);
}

}  // namespace kestrel
