#include "serve/tensor_values.h"

#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

namespace kestrel::serve {
namespace {

using nlohmann::json;

// FP16 travels as its bits; only the conversion to and from JSON differs.
struct Half {
  uint16_t bits;
};

// Calls visit.operator()<T>() with the C++ element type of `dtype`; false
// for a dtype without one.
template <typename Visitor>
bool visit_dtype(api::DType dtype, Visitor&& visit) {
  switch (dtype) {
    case api::DType::kFloat32: visit.template operator()<float>(); return true;
    case api::DType::kFloat64: visit.template operator()<double>(); return true;
    case api::DType::kFloat16: visit.template operator()<Half>(); return true;
    case api::DType::kUInt8: visit.template operator()<uint8_t>(); return true;
    case api::DType::kInt8: visit.template operator()<int8_t>(); return true;
    case api::DType::kUInt16: visit.template operator()<uint16_t>(); return true;
    case api::DType::kInt16: visit.template operator()<int16_t>(); return true;
    case api::DType::kUInt32: visit.template operator()<uint32_t>(); return true;
    case api::DType::kInt32: visit.template operator()<int32_t>(); return true;
    case api::DType::kUInt64: visit.template operator()<uint64_t>(); return true;
    case api::DType::kInt64: visit.template operator()<int64_t>(); return true;
    case api::DType::kBool: visit.template operator()<bool>(); return true;
    default: return false;
  }
}

// One JSON value as T, or false when it is not a T.
template <typename T>
bool convert_value(const json& value, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!value.is_boolean()) return false;
    out = value.get<bool>();
  } else if constexpr (std::is_same_v<T, Half>) {
    if (!value.is_number()) return false;
    out.bits = float_to_half(value.get<float>());
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!value.is_number()) return false;
    out = static_cast<T>(value.get<double>());
  } else {
    if (value.is_number_unsigned()) {
      const auto v = value.get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<T>::max())) return false;
      out = static_cast<T>(v);
    } else if (value.is_number_integer()) {
      const auto v = value.get<int64_t>();
      if constexpr (std::is_unsigned_v<T>) {
        if (v < 0) return false;
      } else {
        if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) return false;
      }
      out = static_cast<T>(v);
    } else {
      return false;
    }
  }
  return true;
}

// Deeper than any tensor's rank: a hostile request cannot recurse the stack away.
constexpr int kMaxNesting = 64;

template <typename T>
struct JsonReader {
  T* dst;
  size_t capacity;
  size_t count = 0;
  bool bad_value = false;
  bool too_deep = false;

  void read(const json& data, int depth) {
    if (data.is_array()) {
      if (depth >= kMaxNesting) {
        too_deep = true;
        return;
      }
      for (const json& element : data) {
        read(element, depth + 1);
        if (bad_value || too_deep) return;
      }
      return;
    }
    T value{};
    if (!convert_value(data, value)) {
      bad_value = true;
      return;
    }
    if (count < capacity) std::memcpy(dst + count, &value, sizeof(T));
    ++count;
  }
};

template <typename T>
json value_to_json(const T& value) {
  if constexpr (std::is_same_v<T, Half>) return half_to_float(value.bits);
  else return value;
}

}  // namespace

Status json_to_tensor(const json& data, api::DType dtype, std::span<std::byte> dst, const std::string& what) {
  if (!data.is_array()) return invalid_argument(what, ": 'data' must be an array");
  Status status;
  const bool known = visit_dtype(dtype, [&]<typename T>() {
    JsonReader<T> reader{reinterpret_cast<T*>(dst.data()), dst.size() / sizeof(T)};
    reader.read(data, 0);
    if (reader.too_deep) {
      status = invalid_argument(what, ": 'data' is nested deeper than ", kMaxNesting, " levels");
    } else if (reader.bad_value) {
      status = invalid_argument(what, ": 'data' holds a value that is not ", api::dtype_name(dtype),
                                std::is_integral_v<T> && !std::is_same_v<T, bool> ? " (an integer in range)" : "");
    } else if (reader.count != reader.capacity) {
      status = invalid_argument(what, ": 'data' has ", reader.count, " values but the shape needs ", reader.capacity);
    }
  });
  if (!known) return invalid_argument(what, ": datatype ", api::dtype_name(dtype), " cannot be sent as JSON");
  return status;
}

json tensor_to_json(std::span<const std::byte> src, api::DType dtype) {
  json values = json::array();
  visit_dtype(dtype, [&]<typename T>() {
    const size_t count = src.size() / sizeof(T);
    values.get_ref<json::array_t&>().reserve(count);
    for (size_t i = 0; i < count; ++i) {
      T value;
      std::memcpy(&value, src.data() + i * sizeof(T), sizeof(T));
      values.push_back(value_to_json(value));
    }
  });
  return values;
}

uint16_t float_to_half(float value) {
  const auto bits = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t exponent = (bits >> 23) & 0xffu;
  uint32_t mantissa = bits & 0x7fffffu;
  if (exponent == 0xffu) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0u));  // inf, nan
  const int half_exponent = static_cast<int>(exponent) - 127 + 15;
  if (half_exponent >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow: inf
  if (half_exponent <= 0) {
    if (half_exponent < -10) return static_cast<uint16_t>(sign);  // underflow: signed zero
    mantissa |= 0x800000u;
    const int shift = 14 - half_exponent;
    uint32_t half_mantissa = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half_mantissa & 1u))) ++half_mantissa;
    return static_cast<uint16_t>(sign | half_mantissa);
  }
  uint32_t half = sign | (static_cast<uint32_t>(half_exponent) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(half);
}

float half_to_float(uint16_t half) {
  const uint32_t sign = (static_cast<uint32_t>(half) & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0x1fu) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    return std::bit_cast<float>(sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mantissa & 0x3ffu) << 13));
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

}  // namespace kestrel::serve
