// Bias correction (`kestrel convert --bias-correction`): removes the shift
// that quantization adds to the per-channel mean of every quantized conv's
// output, measured on calibration images.
//
// A quantized conv computes W_q * Q(x) where the FP32 one computes W * x
// (W_q: the int8 weights dequantized; Q(x): the input put on its int8/uint8
// grid and back). Rounding and clipping move the mean of each output
// channel c by
//
//   shift_c = sum_i (sum W_q[c, i, :, :]) * E[Q(x)_i] - (sum W[c, i, :, :]) * E[x_i]
//
// (the convolution is linear; E over batch and positions, zero padding
// neglected). One FP32 run over the images gives E[x_i] and E[Q(x)_i] for
// every conv input, with the scale the quantizer gives that input, and each
// conv's float bias loses shift_c before the quantizer turns it into the
// int32 bias. Each conv is corrected for its own error on FP32 inputs, so
// corrections do not compound. Measuring the INT8 model's output means
// instead mixes in the rounding of the output itself, a staircase in the
// bias: on images with a constant background (Fashion-MNIST) most pixels sit
// on one step, and matching those means cost MobileNetV2 0.14 points.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/quant_config.h"
#include "quant/sample_batches.h"
#include "quant/tensor_stats.h"

namespace kestrel {

inline constexpr int64_t kDefaultBiasCorrectionImages = 64;

struct CorrectedLayer {
  std::string node;
  int64_t channels = 0;
  // Mean over channels of |shift_c|, relative to the RMS of the conv's FP32 output.
  double shift = 0;
};

struct BiasCorrectionReport {
  int64_t images = 0;
  std::vector<CorrectedLayer> layers;                        // in graph order
  std::vector<std::pair<std::string, std::string>> skipped;  // quantized convs left alone, and why
  std::map<std::string, Tensor> biases;                      // node name -> corrected float bias
  // Logit SQNR of the INT8 model against FP32 on the same images, before and after.
  double logit_sqnr_before_db = 0, logit_sqnr_after_db = 0;
};

// `optimized`: the FP32 graph the quantizer will rewrite (fusions done, static
// shapes), its biases changed in place; `stats` and `config` as for
// quantize_graph. `samples` at the graph's input shape.
StatusOr<BiasCorrectionReport> correct_biases(Graph& optimized, const std::map<std::string, TensorStats>& stats,
                                              const QuantConfig& config, const SampleBatches& samples, int threads);

}  // namespace kestrel
