#include "kernels/cpu/channel_kernels.h"

#include <algorithm>
#include <limits>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/channel_ops.h"
#include "kernels/cpu/avx512_util.h"

namespace kestrel::cpu {
namespace {

bool use_avx512() { return use_avx512_kernels(); }

template <typename T>
T* at(void* base, int64_t i) {
  return static_cast<T*>(base) + i;
}
template <typename T>
const T* at(const void* base, int64_t i) {
  return static_cast<const T*>(base) + i;
}

// ---- plain C++ ----

template <typename Src, typename Dst>
void scale_scalar(const Src* src, const float* multiplier, Dst* dst, int64_t batch, int64_t pixels, int64_t channels) {
  for (int64_t n = 0; n < batch; ++n) {
    const float* m = multiplier + n * channels;
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t row = (n * pixels + p) * channels;
      for (int64_t c = 0; c < channels; ++c) {
        if constexpr (std::is_same_v<Dst, float>) {
          dst[row + c] = src[row + c] * m[c];
        } else {
          dst[row + c] = saturate_round<Dst>(static_cast<float>(src[row + c]) * m[c]);
        }
      }
    }
  }
}

template <typename Src, typename Dst>
void average_scalar(const Src* src, float multiplier, int32_t* sums, Dst* dst, int64_t batch, int64_t pixels,
                    int64_t channels) {
  for (int64_t n = 0; n < batch; ++n) {
    std::fill(sums, sums + channels, 0);
    for (int64_t p = 0; p < pixels; ++p) {
      const Src* row = src + (n * pixels + p) * channels;
      for (int64_t c = 0; c < channels; ++c) sums[c] += row[c];
    }
    for (int64_t c = 0; c < channels; ++c) {
      dst[n * channels + c] = saturate_round<Dst>(static_cast<float>(sums[c]) * multiplier);
    }
  }
}

// ---- AVX-512 ----

KESTREL_AVX512 void scale_f32_avx512(const float* src, const float* scale, float* dst, int64_t batch, int64_t pixels,
                                     int64_t channels) {
  for (int64_t n = 0; n < batch; ++n) {
    const float* m = scale + n * channels;
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t row = (n * pixels + p) * channels;
      for (int64_t c = 0; c < channels; c += kLanes) {
        const __mmask16 mask = tail_mask(channels - c);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, src + row + c), _mm512_maskz_loadu_ps(mask, m + c));
        _mm512_mask_storeu_ps(dst + row + c, mask, v);
      }
    }
  }
}

KESTREL_AVX512 void affine_f32_avx512(const float* src, const float* scale, const float* shift, float* dst,
                                      int64_t rows, int64_t channels, bool relu) {
  // max(v, -inf) is v: one instruction either way, no branch in the loop.
  const __m512 floor = _mm512_set1_ps(relu ? 0.0f : -std::numeric_limits<float>::infinity());
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t base = row * channels;
    for (int64_t c = 0; c < channels; c += kLanes) {
      const __mmask16 mask = tail_mask(channels - c);
      const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, src + base + c),
                                       _mm512_maskz_loadu_ps(mask, scale + c), _mm512_maskz_loadu_ps(mask, shift + c));
      _mm512_mask_storeu_ps(dst + base + c, mask, _mm512_max_ps(v, floor));
    }
  }
}

template <ByteType kSrc, ByteType kDst>
KESTREL_AVX512 void scale_int8_avx512(const void* src, const float* multiplier, void* dst, int64_t batch,
                                      int64_t pixels, int64_t channels) {
  for (int64_t n = 0; n < batch; ++n) {
    const float* m = multiplier + n * channels;
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t row = (n * pixels + p) * channels;
      for (int64_t c = 0; c < channels; c += kLanes) {
        const __mmask16 mask = tail_mask(channels - c);
        const __m512 x = _mm512_cvtepi32_ps(load_widened<kSrc>(at<uint8_t>(src, row + c), mask));
        store_rounded<kDst>(_mm512_mul_ps(x, _mm512_maskz_loadu_ps(mask, m + c)), at<uint8_t>(dst, row + c), mask);
      }
    }
  }
}

template <ByteType kSrc, ByteType kDst>
KESTREL_AVX512 void average_int8_avx512(const void* src, float multiplier, int32_t* sums, void* dst, int64_t batch,
                                        int64_t pixels, int64_t channels) {
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; c += kLanes)
      _mm512_mask_storeu_epi32(sums + c, tail_mask(channels - c), _mm512_setzero_si512());
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t row = (n * pixels + p) * channels;
      for (int64_t c = 0; c < channels; c += kLanes) {
        const __mmask16 mask = tail_mask(channels - c);
        const __m512i sum = _mm512_add_epi32(_mm512_maskz_loadu_epi32(mask, sums + c),
                                             load_widened<kSrc>(at<uint8_t>(src, row + c), mask));
        _mm512_mask_storeu_epi32(sums + c, mask, sum);
      }
    }
    for (int64_t c = 0; c < channels; c += kLanes) {
      const __mmask16 mask = tail_mask(channels - c);
      const __m512 v =
          _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(mask, sums + c)), _mm512_set1_ps(multiplier));
      store_rounded<kDst>(v, at<uint8_t>(dst, n * channels + c), mask);
    }
  }
}

// Calls fn with the (src, dst) byte types as template arguments.
template <template <ByteType, ByteType> class Fn, typename... Args>
void dispatch_types(ByteType src, ByteType dst, Args... args) {
  if (src == ByteType::kS8 && dst == ByteType::kS8) Fn<ByteType::kS8, ByteType::kS8>::run(args...);
  if (src == ByteType::kS8 && dst == ByteType::kU8) Fn<ByteType::kS8, ByteType::kU8>::run(args...);
  if (src == ByteType::kU8 && dst == ByteType::kS8) Fn<ByteType::kU8, ByteType::kS8>::run(args...);
  if (src == ByteType::kU8 && dst == ByteType::kU8) Fn<ByteType::kU8, ByteType::kU8>::run(args...);
}

template <ByteType kType>
using Byte = std::conditional_t<kType == ByteType::kS8, int8_t, uint8_t>;

template <ByteType kSrc, ByteType kDst>
struct ScaleInt8 {
  static void run(const void* src, const float* multiplier, void* dst, int64_t batch, int64_t pixels,
                  int64_t channels) {
    if (use_avx512()) return scale_int8_avx512<kSrc, kDst>(src, multiplier, dst, batch, pixels, channels);
    scale_scalar(static_cast<const Byte<kSrc>*>(src), multiplier, static_cast<Byte<kDst>*>(dst), batch, pixels,
                 channels);
  }
};

template <ByteType kSrc, ByteType kDst>
struct AverageInt8 {
  static void run(const void* src, float multiplier, int32_t* sums, void* dst, int64_t batch, int64_t pixels,
                  int64_t channels) {
    if (use_avx512()) return average_int8_avx512<kSrc, kDst>(src, multiplier, sums, dst, batch, pixels, channels);
    average_scalar(static_cast<const Byte<kSrc>*>(src), multiplier, sums, static_cast<Byte<kDst>*>(dst), batch, pixels,
                   channels);
  }
};

}  // namespace

void channel_scale_f32(const float* src, const float* scale, float* dst, int64_t batch, int64_t pixels,
                       int64_t channels) {
  if (use_avx512()) return scale_f32_avx512(src, scale, dst, batch, pixels, channels);
  scale_scalar(src, scale, dst, batch, pixels, channels);
}

void channel_affine_f32(const float* src, const float* scale, const float* shift, float* dst, int64_t batch,
                        int64_t pixels, int64_t channels, bool relu) {
  if (use_avx512()) return affine_f32_avx512(src, scale, shift, dst, batch * pixels, channels, relu);
  for (int64_t row = 0; row < batch * pixels; ++row) {
    for (int64_t c = 0; c < channels; ++c) {
      const float v = std::fma(src[row * channels + c], scale[c], shift[c]);
      dst[row * channels + c] = relu ? std::max(v, 0.0f) : v;
    }
  }
}

void channel_scale_int8(const void* src, ByteType src_type, const float* multiplier, void* dst, ByteType dst_type,
                        int64_t batch, int64_t pixels, int64_t channels) {
  dispatch_types<ScaleInt8>(src_type, dst_type, src, multiplier, dst, batch, pixels, channels);
}

void global_average_int8(const void* src, ByteType src_type, float multiplier, int32_t* sums, void* dst,
                         ByteType dst_type, int64_t batch, int64_t pixels, int64_t channels) {
  dispatch_types<AverageInt8>(src_type, dst_type, src, multiplier, sums, dst, batch, pixels, channels);
}

namespace {

// The sum of the 16 lanes (not _mm512_reduce_add_ps: GCC 12's header trips
// -Wuninitialized on it).
KESTREL_AVX512 float lane_sum(__m512 v) {
  alignas(64) float lanes[kLanes];
  _mm512_store_ps(lanes, v);
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  return sum;
}

KESTREL_AVX512 void layer_norm_row_avx512(const float* src, const float* scale, const float* bias, float* dst,
                                          int64_t cols, float epsilon) {
  __m512 sum = _mm512_setzero_ps();
  for (int64_t c = 0; c < cols; c += kLanes)
    sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(tail_mask(cols - c), src + c));
  const float mean = lane_sum(sum) / static_cast<float>(cols);
  const __m512 m = _mm512_set1_ps(mean);
  __m512 squares = _mm512_setzero_ps();
  for (int64_t c = 0; c < cols; c += kLanes) {
    const __mmask16 mask = tail_mask(cols - c);
    const __m512 d = _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, src + c), m);
    squares = _mm512_fmadd_ps(d, d, squares);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(lane_sum(squares) / static_cast<float>(cols) + epsilon));
  for (int64_t c = 0; c < cols; c += kLanes) {
    const __mmask16 mask = tail_mask(cols - c);
    const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, src + c), m), inv);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + c) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(dst + c, mask, _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(mask, scale + c), b));
  }
}

void layer_norm_row_scalar(const float* src, const float* scale, const float* bias, float* dst, int64_t cols,
                           float epsilon) {
  float sum = 0.0f;
  for (int64_t c = 0; c < cols; ++c) sum += src[c];
  const float mean = sum / static_cast<float>(cols);
  float squares = 0.0f;
  for (int64_t c = 0; c < cols; ++c) squares += (src[c] - mean) * (src[c] - mean);
  const float inv = 1.0f / std::sqrt(squares / static_cast<float>(cols) + epsilon);
  for (int64_t c = 0; c < cols; ++c) dst[c] = (src[c] - mean) * inv * scale[c] + (bias ? bias[c] : 0.0f);
}

}  // namespace

void layer_norm_f32(const float* src, const float* scale, const float* bias, float* dst, int64_t rows, int64_t cols,
                    float epsilon) {
  const bool avx512 = use_avx512();
  for (int64_t r = 0; r < rows; ++r) {
    if (avx512) layer_norm_row_avx512(src + r * cols, scale, bias, dst + r * cols, cols, epsilon);
    else layer_norm_row_scalar(src + r * cols, scale, bias, dst + r * cols, cols, epsilon);
  }
}

}  // namespace kestrel::cpu
