// Quantization parameters of one value: real = scale * (q - zero_point).
// One scale for per-tensor quantization, or one per slice along `axis`.
#pragma once

#include <cstdint>
#include <vector>

namespace kestrel {

struct QuantParams {
  std::vector<float> scales;
  // Empty means all zero (symmetric); otherwise one per scale.
  std::vector<int64_t> zero_points;
  int64_t axis = 0;  // used when there is more than one scale

  bool operator==(const QuantParams&) const = default;
};

}  // namespace kestrel
