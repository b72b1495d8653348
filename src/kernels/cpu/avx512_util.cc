#include "kernels/cpu/avx512_util.h"

#include "base/cpu_features.h"

namespace kestrel::cpu {
namespace {

bool portable_only = false;

}  // namespace

bool use_avx512_kernels() {
  if (portable_only) return false;
  static const bool available = [] {
    const uint64_t need =
        feature_bit(CpuFeature::kAvx512F) | feature_bit(CpuFeature::kAvx512BW) | feature_bit(CpuFeature::kAvx512VL);
    return (cpu_features() & need) == need;
  }();
  return available;
}

void force_portable_kernels(bool portable) { portable_only = portable; }

const char* kernels_isa() { return use_avx512_kernels() ? "avx512" : "scalar"; }

}  // namespace kestrel::cpu
