// Pre-quantized ONNX models: QuantizeLinear -> DequantizeLinear pairs on
// activations (ONNX Runtime's QDQ format) carry the activation ranges their
// quantizer chose. Kestrel folds each pair away, keeps the range as the
// tensor's calibration statistics, and quantizes the float graph with its own
// fused int8 kernels, so no calibration data is needed. Weights stored as
// int8 + DequantizeLinear fold to float by constant folding and re-quantize
// to the same integers (symmetric per-channel scales are max|w| / 127).
#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/tensor_stats.h"

namespace kestrel {

struct QdqRanges {
  std::map<std::string, TensorStats> stats;  // by tensor name: the pair's representable range
  int folded_pairs = 0;
  int relus_added = 0;
};

// Number of QuantizeLinear -> DequantizeLinear pairs on non-constant values.
int count_qdq_pairs(const Graph& graph);

// Folds every per-tensor pair in place. A pair whose range starts at exactly
// 0 stood for a ReLU as well (the quantizer removes ReLUs its zero point
// makes redundant): it becomes a Relu, which then fuses like any other.
StatusOr<QdqRanges> fold_qdq_pairs(Graph& graph);

}  // namespace kestrel
