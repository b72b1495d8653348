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
  // This tensor's own quantization: the FP32 model's values put on this
  // tensor's int8 grid and back (rounding + clipping here only). The layer
  // to look at when accuracy drops is the one with the lowest own SQNR.
  double own_sqnr_db = 0;  // 10 log10(|x|^2 / |x - dq(q(x))|^2); +inf for float outputs
  double saturated = 0;    // share of the FP32 values beyond the grid (clipped)
  // The int8 network's value against the FP32 network's: the error
  // accumulated through every layer up to here.
  double sqnr_db = 0;
  double cosine = 1;
};

// Runs both graphs (optimized FP32 and its quantized form, same input
// shape) on `input` and compares every quantized tensor (conv outputs and
// quantized inputs) and every graph output. Sorted by own SQNR, worst first.
StatusOr<std::vector<LayerError>> measure_layer_errors(const Graph& float_graph, const Graph& quantized_graph,
                                                       const Tensor& input);

}  // namespace kestrel
