#include "format/checksum.h"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_* placeholders (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <bit>
#include <cstring>

namespace kestrel {
namespace {

// Odd constants, so multiplying by them is invertible modulo 2^64.
constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio
constexpr uint64_t kMul2 = 0xD6E8FEB86659FD93ull;
constexpr uint64_t kMul3 = 0xFF51AFD7ED558CCDull;
constexpr uint64_t kAdd = 0xC4CEB9FE1A85EC53ull;
constexpr size_t kLanes = 8;
constexpr size_t kStripeBytes = kLanes * sizeof(uint64_t);

uint64_t load_word(const unsigned char* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof(word));
  return word;  // the format is little-endian; so are the hosts it runs on
}

uint64_t mix_word(uint64_t state, uint64_t word) { return std::rotl(state + word * kMul2, 29) * kMul1; }

uint64_t finalize(uint64_t h) {
  h ^= h >> 33;
  h *= kMul3;
  h ^= h >> 29;
  h *= kMul1;
  h ^= h >> 32;
  return h;
}

// The stripes, lane by lane: lane i takes word i of every 64-byte stripe.
// Returns the bytes consumed (whole stripes).
size_t mix_stripes_portable(const unsigned char* bytes, size_t size, uint64_t* lanes) {
  size_t pos = 0;
  for (; pos + kStripeBytes <= size; pos += kStripeBytes) {
    for (size_t lane = 0; lane < kLanes; ++lane) {
      lanes[lane] = mix_word(lanes[lane], load_word(bytes + pos + lane * sizeof(uint64_t)));
    }
  }
  return pos;
}

// The same arithmetic with the 8 lanes in one zmm register (64-bit
// multiplies: AVX-512DQ): identical results, at memory speed.
__attribute__((target("avx512f,avx512dq"))) size_t mix_stripes_avx512(const unsigned char* bytes, size_t size,
                                                                      uint64_t* lanes) {
  __m512i state = _mm512_loadu_si512(lanes);
  const __m512i mul1 = _mm512_set1_epi64(static_cast<int64_t>(kMul1));
  const __m512i mul2 = _mm512_set1_epi64(static_cast<int64_t>(kMul2));
  size_t pos = 0;
  for (; pos + kStripeBytes <= size; pos += kStripeBytes) {
    const __m512i words = _mm512_loadu_si512(bytes + pos);
    state = _mm512_mullo_epi64(_mm512_rol_epi64(_mm512_add_epi64(state, _mm512_mullo_epi64(words, mul2)), 29), mul1);
  }
  _mm512_storeu_si512(lanes, state);
  return pos;
}

bool portable_only = false;

bool has_avx512dq() {
  static const bool available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
  return available;
}

}  // namespace

void force_portable_checksum(bool portable) { portable_only = portable; }

uint64_t model_checksum(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  // Independent lanes keep several multiplies in flight at once.
  uint64_t lanes[kLanes] = {kMul1, kMul2, kMul3, kAdd, ~kMul1, ~kMul2, ~kMul3, ~kAdd};
  size_t pos = !portable_only && has_avx512dq() ? mix_stripes_avx512(bytes, size, lanes)
                                                : mix_stripes_portable(bytes, size, lanes);
  uint64_t h = static_cast<uint64_t>(size) * kMul3 + kAdd;
  for (uint64_t lane : lanes) h = (h ^ mix_word(0, lane)) * kMul1 + kAdd;
  for (; pos + sizeof(uint64_t) <= size; pos += sizeof(uint64_t)) {
    h = std::rotl(h ^ mix_word(0, load_word(bytes + pos)), 27) * kMul1 + kAdd;
  }
  if (pos < size) {
    unsigned char tail[sizeof(uint64_t)] = {};
    std::memcpy(tail, bytes + pos, size - pos);
    h = std::rotl(h ^ mix_word(0, load_word(tail)), 23) * kMul1 + kAdd;
  }
  return finalize(h);
}

}  // namespace kestrel
