#include "kernels/activation.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace kestrel {
namespace {

constexpr std::pair<ActivationKind, const char*> kNames[] = {
    {ActivationKind::kRelu, "Relu"},
    {ActivationKind::kClip, "Clip"},
    {ActivationKind::kLeakyRelu, "LeakyRelu"},
    {ActivationKind::kSigmoid, "Sigmoid"},
    {ActivationKind::kHardSigmoid, "HardSigmoid"},
    {ActivationKind::kHardSwish, "HardSwish"},
    {ActivationKind::kSiLU, "SiLU"},
    {ActivationKind::kGelu, "Gelu"},
};

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

float hard_sigmoid(float x, float alpha, float beta) { return std::clamp(alpha * x + beta, 0.0f, 1.0f); }

}  // namespace

std::string activation_name(ActivationKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "";
}

StatusOr<Activation> activation_from_attributes(const Attributes& attrs) {
  Activation activation;
  const std::string name = attrs.get_string("activation", "");
  if (name.empty()) return activation;
  bool found = false;
  for (const auto& [kind, known] : kNames) {
    if (name == known) {
      activation.kind = kind;
      found = true;
    }
  }
  if (!found) return invalid_argument("unknown fused activation '", name, "'");
  activation.alpha = attrs.get_float("activation_alpha", 0.0f);
  activation.beta = attrs.get_float("activation_beta", 0.0f);
  return activation;
}

void set_activation_attributes(const Activation& activation, Attributes& attrs) {
  if (activation.kind == ActivationKind::kNone) return;
  attrs.set("activation", activation_name(activation.kind));
  attrs.set("activation_alpha", activation.alpha);
  attrs.set("activation_beta", activation.beta);
}

void apply_activation(const Activation& activation, float* dst, int64_t count) {
  const float alpha = activation.alpha, beta = activation.beta;
  switch (activation.kind) {
    case ActivationKind::kNone: return;
    case ActivationKind::kRelu:
      for (int64_t i = 0; i < count; ++i) dst[i] = std::max(dst[i], 0.0f);
      return;
    case ActivationKind::kClip:
      for (int64_t i = 0; i < count; ++i) dst[i] = std::min(std::max(dst[i], alpha), beta);
      return;
    case ActivationKind::kLeakyRelu:
      for (int64_t i = 0; i < count; ++i) dst[i] = dst[i] < 0 ? alpha * dst[i] : dst[i];
      return;
    case ActivationKind::kSigmoid:
      for (int64_t i = 0; i < count; ++i) dst[i] = sigmoid(dst[i]);
      return;
    case ActivationKind::kHardSigmoid:
      for (int64_t i = 0; i < count; ++i) dst[i] = hard_sigmoid(dst[i], alpha, beta);
      return;
    case ActivationKind::kHardSwish:
      for (int64_t i = 0; i < count; ++i) dst[i] = dst[i] * hard_sigmoid(dst[i], 1.0f / 6.0f, 0.5f);
      return;
    case ActivationKind::kSiLU:
      for (int64_t i = 0; i < count; ++i) dst[i] = dst[i] * sigmoid(dst[i]);
      return;
    case ActivationKind::kGelu:
      for (int64_t i = 0; i < count; ++i) dst[i] = 0.5f * dst[i] * (1.0f + std::erf(dst[i] * 0.70710678f));
      return;
  }
}

}  // namespace kestrel
