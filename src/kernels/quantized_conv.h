// Names shared by the quantizer, the reference int8 conv and the CPU backend.
#pragma once

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

inline constexpr char kQuantizedConvOp[] = "QFusedConv";
inline constexpr char kOutputScalesAttr[] = "output_scales";
inline constexpr char kSumScaleAttr[] = "sum_scale";
inline constexpr char kOutputTypeAttr[] = "output_type";
// Multiplies the activation's result before rounding (default 1): set when
// the activation does not commute with scaling (SiLU, Sigmoid, HardSwish,
// HardSigmoid), so output_scales and sum_scale give real units and
// post_scale = 1 / output scale.
inline constexpr char kPostScaleAttr[] = "post_scale";
// kPackedLayoutAttr: set on convs whose weights were also packed for the CPU
// kernels (runtime/cpu_backend.h): the packed layout's Kestrel key, a string
// compared and never parsed. kWeightShapeAttr was the logical weight shape
// when format version 1 replaced the weights by the packed blob; version 2
// keeps the plain weights and no longer writes it.
inline constexpr char kWeightShapeAttr[] = "weight_shape";
inline constexpr char kPackedLayoutAttr[] = "packed_weights_layout";

// The dtype a QFusedConv writes (its output_type attribute).
StatusOr<DType> quantized_output_type(const Node& node);

}  // namespace kestrel
