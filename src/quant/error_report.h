// The per-layer error report: how far each quantized layer's output drifts
// from the FP32 model's, measured on real calibration images with the
// error accumulated through the network (what the next layer really sees).
// Layers with the lowest SQNR are where accuracy goes; the quant config can
// keep them in FP32.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

struct LayerError {
  std::string node;    // the quantized node (or the graph output)
  std::string tensor;  // its output
  std::string dtype;   // of the output in the int8 model
  double sqnr_db = 0;  // 10 log10(|fp32|^2 / |int8 - fp32|^2); +inf when identical
  double cosine = 1;   // between the int8 model's (dequantized) and the FP32 model's values
  double saturated = 0;  // share of FP32 values beyond the int8 grid's range
};

// Runs both graphs (optimized FP32 and its quantized form, same input
// shape) on `input` and compares every quantized conv's output and every
// graph output. Sorted worst (lowest SQNR) first.
StatusOr<std::vector<LayerError>> measure_layer_errors(const Graph& float_graph, const Graph& quantized_graph,
                                                       const Tensor& input);

}  // namespace kestrel
