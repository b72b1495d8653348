// The converter as a library call: ONNX model -> optimized .kestrel model,
// FP32 or INT8 (calibrated on images, on a .npy tensor, on batches the
// caller provides, or on the ranges of a pre-quantized model). The CLI's
// `kestrel convert` is a thin layer over convert_model.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "convert/bake_preprocess.h"
#include "ir/graph.h"
#include "passes/shape_inference.h"
#include "quant/accuracy_guard.h"
#include "quant/bias_correction.h"
#include "quant/calibration_run.h"
#include "quant/equalization.h"
#include "quant/error_report.h"
#include "quant/quantize_graph.h"

namespace kestrel {

enum class Precision { kFp32, kInt8 };

struct ConvertOptions {
  std::string model;         // source .onnx
  std::string output;        // .kestrel to write
  InputShapes input_shapes;  // dynamic dims not named here become 1
  // > 0: a variable-batch model (runtime/rebatch.h) compiled at batch
  // max_batch that runs every batch 1..max_batch. Dim 0 of each input must be
  // dynamic in the model (or equal max_batch).
  int64_t max_batch = 0;
  // --bake-preprocess: the model takes raw uint8 frames (convert/bake_preprocess.h).
  // Its spec is also the calibration images' preprocessing when `preprocess` is empty.
  BakeOptions bake;
  Precision precision = Precision::kFp32;

  // INT8 calibration: a dataset on disk...
  std::string calibration_data;    // image folder, IDX file or .npy
  std::string preprocess;          // preprocessing spec (JSON) for images
  int64_t calibration_count = 0;   // 0: the quant config's, else kDefaultCalibrationCount
  int64_t calibration_offset = 0;  // images [offset, offset + count) of calibration_data
  // 0: the model's batch when its input has a fixed batch dim (a torch.onnx
  // export without dynamic_axes), else kDefaultCalibrationBatch. A batch
  // other than a fixed one is an error.
  int64_t calibration_batch = 0;
  int workers = 1;
  // ...or batches from the caller (then calibration_data stays empty).
  CalibrationSource calibration_source;
  Shape calibration_batch_shape;  // the shape every source batch has

  std::string calibration_method;  // empty: the config's default (percentile)
  double percentile = 0;           // 0: the config's default
  std::string quant_config;        // JSON file, docs/quantization.md
  int threads = 0;                 // calibration threads (0: all cores)
  bool progress = false;           // progress bar on stderr
  // INT8 calibration cache (quant/calibration_cache.h), for calibration
  // data on disk: statistics are saved to calibration_cache (empty:
  // OUTPUT.calib) and reused while the model, images and preprocessing are
  // unchanged. A stale cache at the default path is recalibrated and
  // replaced; one the caller named is an error.
  bool use_calibration_cache = true;
  std::string calibration_cache;
  // INT8: compare every quantized layer with FP32 on the first calibration
  // images (ConvertReport::layer_errors).
  bool error_report = true;
  // INT8 accuracy guard (quant/accuracy_guard.h): when max_accuracy_drop >=
  // 0, top-1 is measured on images [validation_offset, validation_offset +
  // validation_count) of validation_data (labels: validation_labels for an
  // IDX file, the class folders of an image folder; preprocess applies) and
  // layers move back to FP32 until INT8 loses at most that many points. The
  // validation images must not overlap the calibration images. The resulting
  // quant config is written to write_quant_config (empty: OUTPUT.quant.json).
  double max_accuracy_drop = -1;
  std::string validation_data, validation_labels;
  int64_t validation_offset = 0;
  int64_t validation_count = 0;  // 0: kDefaultValidationCount
  std::string write_quant_config;
  // INT8: when > 0, rank every quantized layer by sensitivity
  // (quant/accuracy_guard.h measure_sensitivity) on this many of the first
  // calibration images (an IDX file or image folder): ConvertReport::sensitivity.
  int64_t sensitivity_images = 0;
  // INT8: empirical bias correction (quant/bias_correction.h) on the first
  // bias_correction_images calibration images (an IDX file, image folder or
  // .npy); the quant config's "bias_correction" turns it on too.
  bool bias_correction = false;
  int64_t bias_correction_images = kDefaultBiasCorrectionImages;
  // INT8: cross-layer equalization (quant/equalization.h) before
  // calibration, its Clip bounds checked on the first
  // bias_correction_images calibration images; the quant config's
  // "cross_layer_equalization" turns it on too.
  bool cross_layer_equalization = false;
  // Progress lines of long steps (the accuracy guard); may be empty.
  std::function<void(const std::string&)> log;
  // The largest activation arena the converted model may need; 0:
  // default_max_arena_bytes() (planner/arena_limit.h, half the machine's
  // memory). Checked after planning (and before calibration).
  int64_t max_arena_bytes = 0;
};

struct ConvertReport {
  std::vector<std::string> notes;  // what a user should know, one line each
  QuantizationSummary quantization;
  std::vector<LayerError> layer_errors;  // worst first; empty for FP32 and pre-quantized models
  std::optional<GuardResult> guard;      // when the accuracy guard ran
  std::string quant_config_written;      // the path, when the guard wrote one
  std::optional<SensitivityReport> sensitivity;
  std::optional<BiasCorrectionReport> bias_correction;
  std::optional<EqualizationPlan> equalization;
  size_t nodes = 0;
  int fused_nodes = 0;
  int reorders = 0;
  int64_t arena_bytes = 0;
};

// Errors name the model (and the node, tensor or file at fault).
StatusOr<ConvertReport> convert_model(const ConvertOptions& options);

StatusOr<Precision> parse_precision(const std::string& name);

}  // namespace kestrel
