// CPU feature detection (cpuid + xgetbv). A model file records the features
// its packed weights need; the loader compares them with this CPU so that a
// model built on one machine refuses, with a clear message, to run on a
// machine that lacks them instead of dying with SIGILL.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace kestrel {

// Bit positions are part of the .kestrel file format: never renumber them,
// only add new ones.
enum class CpuFeature : uint64_t {
  kSse42 = uint64_t{1} << 0,
  kAvx2 = uint64_t{1} << 1,
  kFma = uint64_t{1} << 2,
  kAvx512F = uint64_t{1} << 3,
  kAvx512BW = uint64_t{1} << 4,
  kAvx512VL = uint64_t{1} << 5,
  kAvx512Vnni = uint64_t{1} << 6,
};

inline constexpr uint64_t feature_bit(CpuFeature feature) { return static_cast<uint64_t>(feature); }
// Every bit this build knows; any other bit in a file is from a newer Kestrel.
inline constexpr uint64_t kKnownCpuFeatures = (uint64_t{1} << 7) - 1;

// Features of the running CPU, usable by this OS (detected once, cached).
uint64_t cpu_features();
// "avx512_vnni"; "bit 42" for an unknown bit. `bit` must have one bit set.
std::string cpu_feature_name(uint64_t bit);
// "sse4.2,avx2,fma" for a mask; "none" when empty.
std::string cpu_feature_list(uint64_t features);

// Best ISA level the mask supports, in oneDNN's naming: "avx512_core_vnni",
// "avx512_core", "avx2", "sse4.2" or "generic".
std::string isa_name_for(uint64_t features);
std::string cpu_isa_name();
// Features an ISA level needs; NotFound for an unknown name.
StatusOr<uint64_t> isa_features(const std::string& isa);

// OK when `available` has every bit of `required`; otherwise an error such as
// "packed for avx512_core_vnni; this CPU lacks avx512_vnni".
Status check_cpu_features(const std::string& isa, uint64_t required, uint64_t available);

}  // namespace kestrel
