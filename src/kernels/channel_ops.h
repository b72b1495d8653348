// The squeeze-excitation ops the passes and the quantizer create (domain
// "kestrel"), and the arithmetic their reference and fast kernels share so
// that both give the same bits.
//
//   ChannelScale(X [N,C,H,W], S [N,C,1,1]) -> Y [N,C,H,W]
//     X float32:        Y = X * S                       (Mul with S broadcast)
//     X int8 / uint8:   Y = saturate(round_half_even(X * (S * output_scale)))
//                       output_scale = X's scale / Y's scale, S float32,
//                       Y's type from output_type ("int8" or "uint8").
//   ChannelAffine(X [N,C,H,W] float32, Scale [C], Shift [C]) -> Y
//     Y = fma(X, Scale[c], Shift[c])   (a BatchNormalization no conv absorbs)
//   QGlobalAveragePool(X [N,C,H,W] int8/uint8) -> Y [N,C,1,1] int8/uint8
//     Y = saturate(round_half_even(float(sum over H, W of X) * (output_scale / float(H * W))))
//     output_scale = X's scale / Y's scale.
//   ChannelShuffle(X [N,C,H,W]) -> Y [N,C,H,W], any element type, attribute groups g:
//     Y[:, k*g + i] = X[:, i*(C/g) + k]    (Reshape to [N,g,C/g,H,W], swap axes 1 and 2, Reshape back)
//   QConcat(X0, X1, ... int8/uint8 [N,Ci,H,W]) -> Y [N,sum Ci,H,W] int8/uint8, along channels:
//     Y's part i = saturate(round_half_even(Xi * input_scales[i])),
//     input_scales[i] = Xi's scale / Y's scale (1: the bytes are copied),
//     Y's type from output_type.
//
// Zero points are 0, as everywhere in Kestrel's int8 graphs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace kestrel {

inline constexpr char kChannelScaleOp[] = "ChannelScale";
inline constexpr char kChannelAffineOp[] = "ChannelAffine";
inline constexpr char kQuantizedGlobalAveragePoolOp[] = "QGlobalAveragePool";
inline constexpr char kChannelShuffleOp[] = "ChannelShuffle";
inline constexpr char kQuantizedConcatOp[] = "QConcat";
// The requantization factor X's scale / Y's scale of both ops (attribute).
inline constexpr char kRequantScaleAttr[] = "output_scale";
inline constexpr char kGroupsAttr[] = "groups";
inline constexpr char kInputScalesAttr[] = "input_scales";

// round_half_even then saturate to Dst, in the order the fast kernels use
// (clamp in float, then convert): equal for every finite v.
template <typename Dst>
inline Dst saturate_round(float v) {
  constexpr float lo = std::numeric_limits<Dst>::min(), hi = std::numeric_limits<Dst>::max();
  return static_cast<Dst>(std::nearbyint(std::clamp(v, lo, hi)));
}

// The multiplier QGlobalAveragePool applies to a channel's int32 sum.
inline float average_multiplier(float output_scale, int64_t pixels) {
  return output_scale / static_cast<float>(pixels);
}

}  // namespace kestrel
