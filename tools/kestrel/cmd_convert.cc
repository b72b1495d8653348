// kestrel convert: ONNX -> optimized .kestrel offline model, FP32 or INT8
// (post-training quantization calibrated on a folder of images, an IDX file
// or a .npy tensor; or the ranges of a pre-quantized model).
#include <algorithm>
#include <cstdio>
#include <limits>

#include "commands.h"
#include "convert/converter.h"
#include "io/progress.h"
#include "planner/arena_limit.h"

namespace kestrel::cli {
namespace {

struct CliConvertOptions {
  std::string model, output, input_shape, precision = "fp32";
  int64_t max_batch = 0;
  std::string bake_preprocess, input_format, input_layout, input_size;
  std::string calibration_data, preprocess, calibration_method, quant_config, calibration_cache;
  bool no_calibration_cache = false;
  int64_t calibration_count = 0;
  int64_t calibration_offset = 0;
  int64_t calibration_batch = 0;  // 0: the model's fixed batch, else kDefaultCalibrationBatch
  int64_t max_arena_bytes = 0;    // 0: default_max_arena_bytes()
  double percentile = 0;
  int threads = 0;
  int workers = 1;
  size_t error_report_rows = 5;
  double max_accuracy_drop = -1;
  std::string validation_data, validation_labels, write_quant_config;
  int64_t validation_offset = 0, validation_count = 0;
  int64_t sensitivity = 0;
  bool bias_correction = false;
  int64_t bias_correction_images = kDefaultBiasCorrectionImages;
  bool cross_layer_equalization = false;
  bool quiet = false;
};

void print_layer_errors(const std::vector<LayerError>& errors, size_t rows) {
  if (errors.empty() || rows == 0) return;
  std::printf(
      "per-layer error vs FP32 on the first calibration images, worst %zu of %zu by own SQNR\n"
      "(own: this tensor's rounding and clipping alone; network: accumulated up to here)\n",
      std::min(rows, errors.size()), errors.size());
  std::printf("  %-48s %-8s %13s %10s %16s %14s\n", "node", "output", "own SQNR dB", "clipped", "network SQNR dB",
              "network cos");
  for (size_t i = 0; i < errors.size() && i < rows; ++i) {
    const LayerError& e = errors[i];
    std::printf("  %-48s %-8s %13.2f %9.4f%% %16.2f %14.5f\n", e.node.c_str(), e.dtype.c_str(), e.own_sqnr_db,
                100 * e.saturated, e.sqnr_db, e.cosine);
  }
}

void print_sensitivity(const SensitivityReport& report) {
  std::printf(
      "sensitivity on %lld calibration images, most sensitive first (logit SQNR against FP32; every layer INT8: "
      "%.2f dB)\n"
      "(FP32 alone: the SQNR gained with only this layer in FP32; INT8 alone: the SQNR with only this layer in INT8)\n",
      static_cast<long long>(report.images), report.all_int8_sqnr_db);
  std::printf("  %-48s %14s %14s %14s\n", "node", "FP32 alone dB", "INT8 alone dB", "INT8 saves ms");
  for (const LayerSensitivity& layer : report.layers) {
    std::printf("  %-48s %+14.2f %14.2f %14.3f\n", layer.node.c_str(), layer.sqnr_gain_db, layer.alone_sqnr_db,
                layer.speed_gain_ms);
  }
}

Status convert(const CliConvertOptions& cli) {
  ConvertOptions options{.model = cli.model,
                         .output = cli.output,
                         .calibration_data = cli.calibration_data,
                         .preprocess = cli.preprocess,
                         .calibration_count = cli.calibration_count,
                         .calibration_offset = cli.calibration_offset,
                         .calibration_batch = cli.calibration_batch,
                         .workers = cli.workers,
                         .calibration_method = cli.calibration_method,
                         .percentile = cli.percentile,
                         .quant_config = cli.quant_config,
                         .threads = cli.threads,
                         .progress = !cli.quiet && ProgressBar::stderr_is_terminal(),
                         .use_calibration_cache = !cli.no_calibration_cache,
                         .calibration_cache = cli.calibration_cache,
                         .error_report = !cli.quiet && cli.error_report_rows > 0,
                         .max_accuracy_drop = cli.max_accuracy_drop,
                         .validation_data = cli.validation_data,
                         .validation_labels = cli.validation_labels,
                         .validation_offset = cli.validation_offset,
                         .validation_count = cli.validation_count,
                         .write_quant_config = cli.write_quant_config,
                         .sensitivity_images = cli.sensitivity,
                         .bias_correction = cli.bias_correction,
                         .bias_correction_images = cli.bias_correction_images,
                         .cross_layer_equalization = cli.cross_layer_equalization,
                         .max_arena_bytes = cli.max_arena_bytes};
  if (!cli.quiet) options.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  KESTREL_ASSIGN_OR_RETURN(options.precision, parse_precision(cli.precision));
  options.max_batch = cli.max_batch;
  options.bake = {.spec_path = cli.bake_preprocess, .format = cli.input_format, .layout = cli.input_layout};
  if (!cli.input_size.empty()) {
    KESTREL_RETURN_IF_ERROR(parse_frame_size(cli.input_size, options.bake.height, options.bake.width));
  }
  if (!cli.input_shape.empty()) {
    KESTREL_ASSIGN_OR_RETURN(options.input_shapes, parse_input_shapes(cli.input_shape));
  }
  KESTREL_ASSIGN_OR_RETURN(const ConvertReport report, convert_model(options));
  if (!cli.quiet) {
    for (const std::string& note : report.notes) std::printf("%s\n", note.c_str());
    print_layer_errors(report.layer_errors, cli.error_report_rows);
  }
  if (report.sensitivity) print_sensitivity(*report.sensitivity);
  if (!report.quant_config_written.empty()) {
    std::printf(
        "quant config written to %s (convert --quant-config %s with the same calibration images gives this "
        "model again)\n",
        report.quant_config_written.c_str(), report.quant_config_written.c_str());
  }
  std::printf("%s -> %s: %zu nodes (%d fused), %d layout reorders, activation arena %.2f MB\n", cli.model.c_str(),
              cli.output.c_str(), report.nodes, report.fused_nodes, report.reorders, report.arena_bytes / 1e6);
  return {};
}

}  // namespace

Command add_convert_command(CLI::App& app) {
  auto options = std::make_shared<CliConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Compile an ONNX model into an optimized .kestrel model");
  cmd->add_option("--model", options->model, "Source model (.onnx)")->required();
  cmd->add_option("--output", options->output, "Output model (.kestrel)")->required();
  cmd->add_option("--input-shape", options->input_shape, "NAME:D0,D1,...[;NAME:...] (dynamic dims default to 1)");
  cmd->add_option("--max-batch", options->max_batch,
                  "A model that runs every batch 1..N without reconversion (memory planned for N); dim 0 of the "
                  "inputs must be dynamic in the ONNX model")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--bake-preprocess", options->bake_preprocess,
                  "Preprocessing spec (JSON) to bake into the model: it then takes raw uint8 frames "
                  "(docs/preprocessing.md, \"Baked preprocessing\")");
  cmd->add_option("--input-format", options->input_format,
                  "With --bake-preprocess: the frames' pixel format (default gray8 for a grey spec, else rgb8)")
      ->check(CLI::IsMember({"gray8", "rgb8", "bgr8", "nv12"}));
  cmd->add_option("--input-layout", options->input_layout,
                  "With --bake-preprocess: nhwc (default, interleaved) or nchw (planar) frames")
      ->check(CLI::IsMember({"nhwc", "nchw"}));
  cmd->add_option("--input-size", options->input_size,
                  "With --bake-preprocess: the frame size H,W (needed when the spec resizes)");
  cmd->add_option("--precision", options->precision, "fp32 or int8 (post-training quantization)")
      ->check(CLI::IsMember({"fp32", "int8"}));
  cmd->add_option("--calibration-data", options->calibration_data,
                  "int8: calibration images (folder of PNG/JPEG, IDX file) or a .npy float32 [N,...] of inputs");
  cmd->add_option("--calibration-count", options->calibration_count, "int8: use the first N images (default 512)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--calibration-offset", options->calibration_offset,
                  "int8: skip the first K images of --calibration-data (use images K .. K+N-1)")
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--calibration-method", options->calibration_method,
                  "int8: activation range method (default percentile)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  cmd->add_option("--percentile", options->percentile,
                  "int8: percentile for --calibration-method percentile (default 99.99)")
      ->check(CLI::Range(1e-9, 100.0));
  cmd->add_option("--calibration-batch", options->calibration_batch,
                  "int8: images per calibration run (default: the model's batch when the model fixes it, else 16)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--preprocess", options->preprocess, "int8: preprocessing spec (JSON) for calibration images");
  cmd->add_option("--calibration-cache", options->calibration_cache,
                  "int8: calibration statistics file, reused while model, images and preprocessing are unchanged "
                  "(default: OUTPUT.calib)");
  cmd->add_flag("--no-calibration-cache", options->no_calibration_cache,
                "int8: calibrate again and write no calibration cache");
  cmd->add_option("--quant-config", options->quant_config, "int8: quantization config (JSON, docs/quantization.md)");
  cmd->add_option("--threads", options->threads, "Threads for calibration (default: all cores)")
      ->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_option("--workers", options->workers, "Image decoding threads for calibration")->check(CLI::Range(1, 64));
  cmd->add_option("--error-report", options->error_report_rows,
                  "int8: print the N layers that drift most from FP32 (0: skip the measurement; default 5)");
  cmd->add_option("--max-accuracy-drop", options->max_accuracy_drop,
                  "int8: move layers back to FP32 until top-1 on the validation images is at most this many points "
                  "below FP32")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--validation-data", options->validation_data,
                  "int8 guard: labelled images (folder of class folders, or an IDX file) to measure top-1 on");
  cmd->add_option("--validation-labels", options->validation_labels, "int8 guard: IDX label file");
  cmd->add_option("--validation-offset", options->validation_offset,
                  "int8 guard: skip the first K validation images (they must not overlap the calibration images)")
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--validation-count", options->validation_count,
                  str_cat("int8 guard: validation images (default ", kDefaultValidationCount, ")"))
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--write-quant-config", options->write_quant_config,
                  "int8 guard: where to write the resulting quant config (default: OUTPUT.quant.json)");
  cmd->add_option("--sensitivity", options->sensitivity,
                  "int8: rank every quantized layer by the logit SQNR with it alone in FP32 and alone in INT8, on the "
                  "first N calibration images")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_flag("--bias-correction", options->bias_correction,
                "int8: shift each quantized conv's bias so that its per-channel output mean matches FP32 on the "
                "first calibration images (docs/quantization.md)");
  cmd->add_option(
         "--bias-correction-images", options->bias_correction_images,
         str_cat("int8: calibration images bias correction measures on (default ", kDefaultBiasCorrectionImages, ")"))
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_flag("--cross-layer-equalization", options->cross_layer_equalization,
                "int8: rescale the channels of each conv pair around a depthwise conv so that both weight ranges "
                "match, before calibration (docs/quantization.md)");
  cmd->add_option("--max-arena-bytes", options->max_arena_bytes,
                  str_cat("Refuse a model whose activation arena needs more than N bytes (default: half of this "
                          "machine's physical memory, here ",
                          default_max_arena_bytes(), ")"))
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()));
  cmd->add_flag("--quiet", options->quiet, "No progress bar, notes or quantization summary");
  return [options] { return convert(*options); };
}

}  // namespace kestrel::cli
