// The quantizer: rewrites an optimized FP32 graph (fusions done, shapes
// static) into its int8 form using calibrated activation statistics.
//
// - Each quantized conv (FusedConv or Conv) becomes a QFusedConv: int8
//   weights (symmetric, per output channel or per tensor), int32 bias,
//   requantization of the output fused in (output_scales), the residual
//   Sum rescaled in the integer domain (sum_scale).
// - Activations are per tensor with zero point 0: uint8 when the
//   calibration never saw a negative value (after ReLU/ReLU6), int8
//   symmetric otherwise.
// - Consecutive int8 layers pass int8/uint8 tensors directly; MaxPool runs
//   on them as they are. A QuantizeLinear enters an int8 region and a
//   DequantizeLinear leaves it, only where a float op reads an int8 tensor
//   (a conv whose only readers are float ops writes float32 directly).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/quant_config.h"
#include "quant/tensor_stats.h"

namespace kestrel {

struct QuantizationSummary {
  std::vector<std::string> quantized;                           // node names
  std::vector<std::pair<std::string, std::string>> kept_float;  // node name, why
  int quantize_nodes = 0, dequantize_nodes = 0;
};

// The op a (possibly fused) node grew from, as quant configs name it: "Conv" for FusedConv.
std::string source_op_type(const Node& node);

// Names of the float activations whose statistics the quantizer needs: what
// each quantizable conv (per `config`) reads and writes.
std::vector<std::string> tensors_to_calibrate(const Graph& graph, const QuantConfig& config);

struct QuantizeOptions {
  // False: a tensor without statistics is an error. True (pre-quantized
  // models, whose file gives ranges only for what its quantizer covered): the
  // convs that need it stay FP32, each listed with the reason.
  bool keep_float_without_stats = false;
};

// Rewrites `graph` in place. `stats` must hold every tensors_to_calibrate name.
StatusOr<QuantizationSummary> quantize_graph(Graph& graph, const std::map<std::string, TensorStats>& stats,
                                             const QuantConfig& config, const QuantizeOptions& options = {});

}  // namespace kestrel
