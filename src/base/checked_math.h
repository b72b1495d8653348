// Overflow-checked size arithmetic for sizes that come from untrusted input
// (file headers, ONNX dims, user shapes): every product or sum is checked
// before anything is allocated from it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace kestrel {

// a * b, or nullopt when either is negative or the product exceeds int64.
inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t product = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t sum = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

// The product of dims, or nullopt when a dim is negative or it overflows.
inline std::optional<int64_t> checked_element_count(std::span<const int64_t> dims) {
  int64_t count = 1;
  for (int64_t dim : dims) {
    auto next = checked_mul(count, dim);
    if (!next) return std::nullopt;
    count = *next;
  }
  return count;
}

// The byte size of `elements` items of `item_bytes`, or nullopt on overflow.
inline std::optional<int64_t> checked_bytes(int64_t elements, int64_t item_bytes) {
  return checked_mul(elements, item_bytes);
}

}  // namespace kestrel
