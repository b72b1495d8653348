#include "base/cpu_features.h"

#include <array>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define KESTREL_X86 1
#endif

namespace kestrel {
namespace {

struct FeatureName {
  CpuFeature feature;
  std::string_view name;
};

constexpr std::array<FeatureName, 7> kFeatureNames = {{
    {CpuFeature::kSse42, "sse4.2"},
    {CpuFeature::kAvx2, "avx2"},
    {CpuFeature::kFma, "fma"},
    {CpuFeature::kAvx512F, "avx512f"},
    {CpuFeature::kAvx512BW, "avx512bw"},
    {CpuFeature::kAvx512VL, "avx512vl"},
    {CpuFeature::kAvx512Vnni, "avx512_vnni"},
}};

constexpr uint64_t kSse42Level = feature_bit(CpuFeature::kSse42);
constexpr uint64_t kAvx2Level = kSse42Level | feature_bit(CpuFeature::kAvx2) | feature_bit(CpuFeature::kFma);
constexpr uint64_t kAvx512CoreLevel = kAvx2Level | feature_bit(CpuFeature::kAvx512F) |
                                      feature_bit(CpuFeature::kAvx512BW) | feature_bit(CpuFeature::kAvx512VL);
constexpr uint64_t kAvx512VnniLevel = kAvx512CoreLevel | feature_bit(CpuFeature::kAvx512Vnni);

struct IsaLevel {
  std::string_view name;
  uint64_t features;
};

// Best first: isa_name_for picks the first level the CPU fully supports.
constexpr std::array<IsaLevel, 5> kIsaLevels = {{
    {"avx512_core_vnni", kAvx512VnniLevel},
    {"avx512_core", kAvx512CoreLevel},
    {"avx2", kAvx2Level},
    {"sse4.2", kSse42Level},
    {"generic", 0},
}};

#ifdef KESTREL_X86
// XCR0 says which register state the OS saves on context switch; a CPU
// feature whose registers the OS does not save is unusable.
uint64_t read_xcr0() {
  uint32_t low = 0, high = 0;
  __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
  return (static_cast<uint64_t>(high) << 32) | low;
}

uint64_t detect_features() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  constexpr unsigned kSse42Bit = 1u << 20, kFmaBit = 1u << 12, kOsxsaveBit = 1u << 27, kAvxBit = 1u << 28;
  uint64_t features = 0;
  if (ecx & kSse42Bit) features |= feature_bit(CpuFeature::kSse42);
  if (!(ecx & kOsxsaveBit) || !(ecx & kAvxBit)) return features;

  constexpr uint64_t kXmmYmmState = 0x6, kAvx512State = 0xE0;  // XCR0: SSE|AVX; opmask|ZMM_Hi256|Hi16_ZMM
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & kXmmYmmState) != kXmmYmmState) return features;
  if (ecx & kFmaBit) features |= feature_bit(CpuFeature::kFma);

  if (__get_cpuid_max(0, nullptr) < 7) return features;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  constexpr unsigned kAvx2Bit = 1u << 5, kAvx512FBit = 1u << 16, kAvx512BWBit = 1u << 30, kAvx512VLBit = 1u << 31;
  constexpr unsigned kAvx512VnniBit = 1u << 11;  // in ECX
  if (ebx & kAvx2Bit) features |= feature_bit(CpuFeature::kAvx2);
  if ((xcr0 & kAvx512State) != kAvx512State) return features;
  if (ebx & kAvx512FBit) features |= feature_bit(CpuFeature::kAvx512F);
  if (ebx & kAvx512BWBit) features |= feature_bit(CpuFeature::kAvx512BW);
  if (ebx & kAvx512VLBit) features |= feature_bit(CpuFeature::kAvx512VL);
  if (ecx & kAvx512VnniBit) features |= feature_bit(CpuFeature::kAvx512Vnni);
  return features;
}
#else
uint64_t detect_features() { return 0; }
#endif

}  // namespace

uint64_t cpu_features() {
  static const uint64_t features = detect_features();
  return features;
}

std::string cpu_feature_name(uint64_t bit) {
  for (const FeatureName& entry : kFeatureNames) {
    if (feature_bit(entry.feature) == bit) return std::string(entry.name);
  }
  for (int index = 0; index < 64; ++index) {
    if (bit == (uint64_t{1} << index)) return str_cat("bit ", index);
  }
  return str_cat("mask 0x", std::hex, bit);
}

std::string cpu_feature_list(uint64_t features) {
  std::string list;
  for (int index = 0; index < 64; ++index) {
    const uint64_t bit = uint64_t{1} << index;
    if (!(features & bit)) continue;
    if (!list.empty()) list += ",";
    list += cpu_feature_name(bit);
  }
  return list.empty() ? "none" : list;
}

std::string isa_name_for(uint64_t features) {
  for (const IsaLevel& level : kIsaLevels) {
    if ((features & level.features) == level.features) return std::string(level.name);
  }
  return "generic";
}

std::string cpu_isa_name() { return isa_name_for(cpu_features()); }

StatusOr<uint64_t> isa_features(const std::string& isa) {
  for (const IsaLevel& level : kIsaLevels) {
    if (level.name == isa) return level.features;
  }
  return not_found("unknown ISA level '", isa, "'");
}

Status check_cpu_features(const std::string& isa, uint64_t required, uint64_t available) {
  const uint64_t missing = required & ~available;
  if (missing == 0) return {};
  if (missing & ~kKnownCpuFeatures) {
    return unimplemented("packed for ", isa, "; it requires CPU features this build of Kestrel does not know (",
                         cpu_feature_list(missing & ~kKnownCpuFeatures), "); it was made by a newer Kestrel");
  }
  return unimplemented("packed for ", isa, "; this CPU lacks ", cpu_feature_list(missing));
}

}  // namespace kestrel
