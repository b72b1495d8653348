// Accuracy-guarded mixed precision (`kestrel convert --max-accuracy-drop`):
// measures FP32 and INT8 top-1 on a validation set and, while INT8 loses
// more than the budget, moves quantized layers back to FP32, one at a time.
//
// Candidates are ranked by sensitivity: the gain in logit SQNR (against
// FP32, on the first validation images) from keeping that layer alone in
// FP32, divided by what the layer's INT8 speed-up is worth (its measured
// FP32 minus INT8 time, plus the mean of that over all layers, so a layer
// with a small gain is preferred only among similar sensitivities). Each
// move is confirmed by measuring top-1 again; one that does not raise it is
// undone. Every candidate is compiled and run in memory.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "ir/graph.h"
#include "quant/quant_config.h"
#include "quant/tensor_stats.h"

namespace kestrel {

inline constexpr int64_t kDefaultValidationCount = 1000;
inline constexpr int64_t kDefaultSensitivityImages = 64;

struct GuardOptions {
  double max_drop_points = 0;  // top-1 points INT8 may lose against FP32 (>= 0)
  const Dataset* validation = nullptr;
  PreprocessSpec spec;
  PreprocessedSize size;
  int threads = 0;
  int workers = 1;
  int64_t sensitivity_images = kDefaultSensitivityImages;
  bool progress = false;                        // progress bars on stderr
  std::function<void(const std::string&)> log;  // one line per step; may be empty
};

// How much one quantized layer matters, measured on the logits (SQNR
// against the FP32 model's, on the same images).
struct LayerSensitivity {
  std::string node;
  double sqnr_gain_db = 0;   // logit SQNR with this layer alone in FP32, minus with every layer INT8
  double alone_sqnr_db = 0;  // logit SQNR with this layer alone in INT8 (the rest FP32); NaN when not measured
  double speed_gain_ms = 0;  // the layer's profiled FP32 time minus its INT8 time (at least 0)
};

struct SensitivityReport {
  int64_t images = 0;
  double all_int8_sqnr_db = 0;           // every layer INT8
  std::vector<LayerSensitivity> layers;  // largest sqnr_gain_db first
};

struct SensitivityOptions {
  const Dataset* images = nullptr;  // the first `count` are used
  PreprocessSpec spec;
  PreprocessedSize size;
  int64_t count = kDefaultSensitivityImages;
  int threads = 0;
  int workers = 1;
  bool alone = true;  // also measure each layer alone in INT8
};

// `kestrel convert --sensitivity`: every quantized layer, alone in FP32 and
// alone in INT8. `optimized` and `stats` as for guard_accuracy.
StatusOr<SensitivityReport> measure_sensitivity(const Graph& optimized, const std::map<std::string, TensorStats>& stats,
                                                const QuantConfig& config, const SensitivityOptions& options);

struct GuardCandidate : LayerSensitivity {
  double top1 = -1;         // top-1 measured with it moved (-1: not tried)
  bool kept_float = false;  // the move was kept
};

struct GuardResult {
  QuantConfig config;  // the input config plus a "precision": "fp32" override per moved layer
  double fp32_top1 = 0, int8_top1 = 0, final_top1 = 0;
  int64_t validation_images = 0;
  size_t quantized_layers = 0;                    // quantized before the guard
  std::vector<std::string> kept_float;            // moved to FP32, in the order moved
  std::vector<GuardCandidate> candidates;         // ranked
  double fp32_ms = 0, int8_ms = 0, final_ms = 0;  // median latency of one run at the model's batch
};

// `optimized`: the optimized FP32 graph at its final input shapes, before
// quantization; `stats`: its calibration statistics. Fails (naming the best
// reached) when no INT8 model meets the budget, that is when it would take
// every quantized layer in FP32.
StatusOr<GuardResult> guard_accuracy(const Graph& optimized, const std::map<std::string, TensorStats>& stats,
                                     const QuantConfig& config, const GuardOptions& options);

}  // namespace kestrel
