// What Kestrel's own CPU kernels share: whether to take their AVX-512 path,
// and the small AVX-512 pieces (tail masks, widening loads, rounding
// stores) that give the reference kernels' bits.
#pragma once

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* placeholders (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace kestrel::cpu {

enum class ByteType { kS8, kU8 };

// True when the CPU has AVX-512 F/BW/VL and no test forced the portable path.
bool use_avx512_kernels();
// Makes Kestrel's own kernels take their plain C++ path even where AVX-512
// is available (tests compare both paths on one machine). Not thread-safe.
void force_portable_kernels(bool portable);
// "avx512" or "scalar": the path the kernels take on this CPU now.
const char* kernels_isa();

#define KESTREL_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

inline constexpr int64_t kLanes = 16;

KESTREL_AVX512 inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= kLanes ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1);
}

template <ByteType kType>
KESTREL_AVX512 inline __m512i load_widened(const void* src, __mmask16 mask) {
  const __m128i bytes = _mm_maskz_loadu_epi8(mask, src);
  return kType == ByteType::kS8 ? _mm512_cvtepi8_epi32(bytes) : _mm512_cvtepu8_epi32(bytes);
}

// Clamp in float, convert with the current rounding mode (nearest even), narrow.
template <ByteType kType>
KESTREL_AVX512 inline void store_rounded(__m512 v, void* dst, __mmask16 mask) {
  const float lo = kType == ByteType::kS8 ? -128.0f : 0.0f, hi = kType == ByteType::kS8 ? 127.0f : 255.0f;
  v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(lo)), _mm512_set1_ps(hi));
  _mm_mask_storeu_epi8(dst, mask, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v)));
}

}  // namespace kestrel::cpu
