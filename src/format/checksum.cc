#include "format/checksum.h"

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

}  // namespace

uint64_t model_checksum(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  // Independent lanes keep several multiplies in flight at once.
  uint64_t lanes[kLanes] = {kMul1, kMul2, kMul3, kAdd, ~kMul1, ~kMul2, ~kMul3, ~kAdd};
  size_t pos = 0;
  for (; pos + kStripeBytes <= size; pos += kStripeBytes) {
    for (size_t lane = 0; lane < kLanes; ++lane) {
      lanes[lane] = mix_word(lanes[lane], load_word(bytes + pos + lane * sizeof(uint64_t)));
    }
  }
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
