// Names shared by the quantizer, the reference int8 conv and the CPU backend.
#pragma once

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

inline constexpr char kQuantizedConvOp[] = "QFusedConv";
inline constexpr char kOutputScalesAttr[] = "output_scales";
inline constexpr char kSumScaleAttr[] = "sum_scale";
inline constexpr char kOutputTypeAttr[] = "output_type";
// Set on convs whose weights were packed for the CPU kernels (a uint8 blob):
// the logical weight shape and oneDNN's description of the packed layout.
inline constexpr char kWeightShapeAttr[] = "weight_shape";
inline constexpr char kPackedLayoutAttr[] = "packed_weights_layout";

// The dtype a QFusedConv writes (its output_type attribute).
StatusOr<DType> quantized_output_type(const Node& node);

}  // namespace kestrel
