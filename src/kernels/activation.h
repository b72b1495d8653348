// Activations that passes fuse into the op producing their input. A fused
// node carries them as attributes:
//   activation        "Relu" | "Clip" | "LeakyRelu" | "Sigmoid" | "HardSigmoid" | "HardSwish" | "SiLU" | "Gelu"
//                     (Gelu: x * (1 + erf(x / sqrt 2)) / 2, the exact form)
//   activation_alpha  LeakyRelu alpha, HardSigmoid alpha, Clip min
//   activation_beta   HardSigmoid beta, Clip max
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "ir/attributes.h"

namespace kestrel {

enum class ActivationKind { kNone, kRelu, kClip, kLeakyRelu, kSigmoid, kHardSigmoid, kHardSwish, kSiLU, kGelu };

struct Activation {
  ActivationKind kind = ActivationKind::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;
};

StatusOr<Activation> activation_from_attributes(const Attributes& attrs);
void set_activation_attributes(const Activation& activation, Attributes& attrs);
std::string activation_name(ActivationKind kind);

// dst[i] = activation(dst[i]).
void apply_activation(const Activation& activation, float* dst, int64_t count);

}  // namespace kestrel
