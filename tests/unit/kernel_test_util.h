// Helpers for tests of Kestrel's own CPU kernels against the reference
// kernels: random tensors, NCHW <-> NHWC, byte-level comparison.
#pragma once

#include <cstring>
#include <random>

#include "ir/tensor.h"
#include "kernels/cpu/avx512_util.h"

namespace kestrel::testing {

inline int64_t uniform_int(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

inline Tensor random_tensor(std::mt19937& rng, DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) {
    if (dtype == DType::kFloat32) t.data<float>()[i] = std::uniform_real_distribution<float>(-3.0f, 3.0f)(rng);
    if (dtype == DType::kInt8) t.data<int8_t>()[i] = static_cast<int8_t>(uniform_int(rng, -128, 127));
    if (dtype == DType::kUInt8) t.data<uint8_t>()[i] = static_cast<uint8_t>(uniform_int(rng, 0, 255));
  }
  return t;
}

// NCHW <-> NHWC for any element size.
inline Tensor transposed(const Tensor& x, bool to_nhwc) {
  const Shape& s = x.shape();
  const int64_t n = s[0], c = to_nhwc ? s[1] : s[3], pixels = to_nhwc ? s[2] * s[3] : s[1] * s[2];
  Tensor y(x.dtype(), to_nhwc ? Shape{s[0], s[2], s[3], s[1]} : Shape{s[0], s[3], s[1], s[2]});
  const size_t size = dtype_size(x.dtype());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t nchw = (b * c + k) * pixels + p, nhwc = (b * pixels + p) * c + k;
        std::memcpy(static_cast<uint8_t*>(y.raw_data()) + (to_nhwc ? nhwc : nchw) * size,
                    static_cast<const uint8_t*>(x.raw_data()) + (to_nhwc ? nchw : nhwc) * size, size);
      }
  return y;
}

inline int64_t differing_bytes(const Tensor& a, const Tensor& b) {
  int64_t count = 0;
  for (size_t i = 0; i < a.nbytes(); ++i) {
    count += static_cast<const uint8_t*>(a.raw_data())[i] != static_cast<const uint8_t*>(b.raw_data())[i];
  }
  return count;
}

inline cpu::ByteType byte_type(DType dtype) { return dtype == DType::kUInt8 ? cpu::ByteType::kU8 : cpu::ByteType::kS8; }

}  // namespace kestrel::testing
