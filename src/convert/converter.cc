#include "convert/converter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/cpu_features.h"
#include "base/safe_write.h"
#include "format/model_file.h"
#include "frontend/onnx/onnx_importer.h"
#include "io/batch_loader.h"
#include "io/dataset.h"
#include "io/npy.h"
#include "io/preprocess.h"
#include "passes/assign_layout.h"
#include "passes/compile.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"
#include "planner/arena_limit.h"
#include "planner/memory_planner.h"
#include "quant/calibration_cache.h"
#include "quant/qdq_import.h"
#include "quant/quant_config.h"
#include "runtime/cpu_backend.h"
#include "runtime/graph_checks.h"
#include "runtime/rebatch.h"

namespace kestrel {
namespace {

bool has_extension(const std::string& path, const char* extension) {
  return std::filesystem::path(path).extension() == extension;
}

bool guarded(const ConvertOptions& options) { return options.max_accuracy_drop >= 0; }

StatusOr<QuantConfig> load_quant_config(const ConvertOptions& options) {
  QuantConfig config;
  if (!options.quant_config.empty()) {
    KESTREL_ASSIGN_OR_RETURN(config, read_quant_config(options.quant_config));
  }
  // Options given explicitly override the file's defaults.
  if (!options.calibration_method.empty()) {
    KESTREL_ASSIGN_OR_RETURN(config.defaults.method, parse_calibration_method(options.calibration_method));
  }
  if (options.percentile != 0) config.defaults.percentile = options.percentile;
  return config;
}

Status check_config(const QuantConfig& config, const Graph& graph, const ConvertOptions& options) {
  std::vector<std::pair<std::string, std::string>> nodes;
  for (const Node& node : graph.nodes) nodes.emplace_back(node.name, source_op_type(node));
  Status matched = check_overrides_match(config, nodes);
  return options.quant_config.empty() ? matched : matched.with_context(options.quant_config);
}

std::string summary_line(const QuantizationSummary& summary, size_t tensors, const std::string& source) {
  return str_cat(tensors, " tensor ranges from ", source, "; quantized ", summary.quantized.size(), " convs, ",
                 summary.quantize_nodes, " quantize and ", summary.dequantize_nodes, " dequantize nodes");
}

void add_float_notes(const QuantizationSummary& summary, ConvertReport& report) {
  for (const auto& [name, why] : summary.kept_float) report.notes.push_back(str_cat("  FP32: ", name, " (", why, ")"));
}

// A model that carries QuantizeLinear/DequantizeLinear pairs: its ranges
// replace calibration.
Status quantize_prequantized(const QdqRanges& ranges, Graph& graph, const ConvertOptions& options,
                             ConvertReport& report) {
  if (!options.calibration_data.empty() || options.calibration_source || !options.calibration_method.empty()) {
    return invalid_argument("the model is already quantized (", ranges.folded_pairs,
                            " QuantizeLinear/DequantizeLinear pairs): its scales are used, so "
                            "calibration data and a calibration method do not apply");
  }
  if (guarded(options)) {
    return invalid_argument("--max-accuracy-drop needs a model to calibrate; this one is already quantized (",
                            ranges.folded_pairs, " QuantizeLinear/DequantizeLinear pairs)");
  }
  KESTREL_ASSIGN_OR_RETURN(QuantConfig config, load_quant_config(options));
  KESTREL_RETURN_IF_ERROR(check_config(config, graph, options));
  // The file gives each tensor's range: the whole range is kept.
  config.defaults.method = CalibrationMethod::kMinMax;
  for (QuantOverride& override : config.overrides) override.method.reset();
  KESTREL_ASSIGN_OR_RETURN(report.quantization,
                           quantize_graph(graph, ranges.stats, config, {.keep_float_without_stats = true}));
  report.notes.push_back(
      summary_line(report.quantization, ranges.stats.size(), "the model's QuantizeLinear/DequantizeLinear pairs"));
  add_float_notes(report.quantization, report);
  return {};
}

constexpr int64_t kErrorReportImages = 4;

// The batch dim of the model's single input when the model fixes it (dim 0
// > 0), else 0. torch.onnx.export without dynamic_axes fixes it at 1.
int64_t fixed_batch(const Graph& source) {
  if (source.inputs.size() != 1) return 0;
  const Value& input = source.value(source.inputs[0]);
  if (!input.shape_known || input.shape.empty() || input.shape[0] <= 0) return 0;
  return input.shape[0];
}

// The calibration batch: the model's when fixed, else the option's or the default.
StatusOr<int64_t> calibration_batch(const Graph& source, const ConvertOptions& options) {
  const int64_t fixed = fixed_batch(source);
  if (fixed == 0) return options.calibration_batch > 0 ? options.calibration_batch : kDefaultCalibrationBatch;
  if (options.calibration_batch > 0 && options.calibration_batch != fixed) {
    return invalid_argument("--calibration-batch ", options.calibration_batch, ": input '",
                            source.value(source.inputs[0]).name, "' has the fixed batch ", fixed,
                            " (exported without a dynamic batch axis); omit --calibration-batch or give ", fixed);
  }
  return fixed;
}

int64_t max_arena_bytes(const ConvertOptions& options) {
  return options.max_arena_bytes > 0 ? options.max_arena_bytes : default_max_arena_bytes();
}

Status check_arena(int64_t arena_bytes, const ConvertOptions& options) {
  return check_arena_limit(arena_bytes, max_arena_bytes(options),
                           options.max_arena_bytes > 0
                               ? "--max-arena-bytes"
                               : "the default, half of this machine's memory; --max-arena-bytes sets it");
}

// Quantizes the model again at the sample's batch size and compares it with
// FP32 layer by layer on those images.
// The biases bias correction computed replace those of the same nodes in
// `graph` (the same model optimized at another batch).
void apply_corrected_biases(Graph& graph, const BiasCorrectionReport& corrected) {
  for (Node& node : graph.nodes) {
    auto it = corrected.biases.find(node.name);
    if (it == corrected.biases.end()) continue;
    const ValueId id = add_constant(graph, node.name + "/corrected_bias", it->second.clone());
    node.inputs.resize(std::max<size_t>(node.inputs.size(), 3), kNoValue);
    node.inputs[2] = id;
  }
}

Status add_error_report(const Graph& source, const QuantConfig& config, const CalibrationResult& calibration,
                        ConvertReport& report) {
  const Tensor& first = calibration.first_batch;
  if (first.empty() || first.rank() == 0) return {};
  Shape shape = first.shape();
  if (fixed_batch(source) == 0) shape[0] = std::min(shape[0], kErrorReportImages);
  Tensor sample(DType::kFloat32, shape);
  std::memcpy(sample.raw_data(), first.raw_data(), sample.nbytes());
  Graph float_graph = source;
  KESTREL_RETURN_IF_ERROR(set_input_shapes(float_graph, {{float_graph.value(float_graph.inputs[0]).name, shape}}));
  KESTREL_RETURN_IF_ERROR(optimize_graph(float_graph));
  if (report.equalization) KESTREL_RETURN_IF_ERROR(apply_equalization(float_graph, *report.equalization));
  if (report.bias_correction) apply_corrected_biases(float_graph, *report.bias_correction);
  Graph quantized = float_graph;
  KESTREL_RETURN_IF_ERROR(quantize_graph(quantized, calibration.stats, config).status());
  KESTREL_ASSIGN_OR_RETURN(report.layer_errors, measure_layer_errors(float_graph, quantized, sample));
  return {};
}

std::string input_shapes_text(const InputShapes& shapes) {
  std::string text;
  for (const auto& [name, shape] : shapes) text += str_cat(name, ":", shape_string(shape), ";");
  return text;
}

// Statistics from the calibration cache when it matches, else from a
// calibration run (then saved to the cache).
StatusOr<CalibrationResult> calibrate_or_reuse(const CalibrationData& data, const std::vector<std::string>& tensors,
                                               const Graph& source, const ConvertOptions& options,
                                               ConvertReport& report) {
  // Equalization changes the tensors calibration measures.
  const std::string setup =
      input_shapes_text(options.input_shapes) + (report.equalization ? "|cross_layer_equalization" : "");
  if (!options.use_calibration_cache || data.source) return calibrate(source, data, tensors);
  const bool named = !options.calibration_cache.empty();
  const std::string path = named ? options.calibration_cache : options.output + kCalibrationCacheExtension;
  KESTREL_ASSIGN_OR_RETURN(const CalibrationFingerprint fingerprint,
                           fingerprint_calibration(options.model, setup, data, tensors));
  KESTREL_ASSIGN_OR_RETURN(CalibrationCacheLookup lookup, read_calibration_cache(path, fingerprint));
  if (lookup.result) {
    report.notes.push_back(str_cat("note: calibration statistics reused from ", path,
                                   " (same model, images and preprocessing; --no-calibration-cache recalibrates)"));
    return std::move(*lookup.result);
  }
  if (!lookup.stale.empty()) {
    if (named) {
      return invalid_argument(path, ": calibration cache made for other inputs (", lookup.stale,
                              " differ); give another --calibration-cache or delete it");
    }
    report.notes.push_back(str_cat("note: ", path, " is stale (", lookup.stale, " changed): calibrating again"));
  }
  KESTREL_ASSIGN_OR_RETURN(CalibrationResult result, calibrate(source, data, tensors));
  // The error report reads only the first kErrorReportImages images of a
  // dynamic-batch model: the cache keeps only those.
  CalibrationResult saved{result.stats, result.first_batch};
  const Tensor& first = result.first_batch;
  if (fixed_batch(source) == 0 && !first.empty() && first.rank() > 0 && first.dim(0) > kErrorReportImages) {
    Shape shape = first.shape();
    shape[0] = kErrorReportImages;
    saved.first_batch = Tensor(DType::kFloat32, shape);
    std::memcpy(saved.first_batch.raw_data(), first.raw_data(), saved.first_batch.nbytes());
  }
  KESTREL_RETURN_IF_ERROR(write_calibration_cache(path, fingerprint, saved));
  return result;
}

// The validation slice of the accuracy guard, checked against the
// calibration images before anything runs.
StatusOr<std::unique_ptr<Dataset>> open_validation(const ConvertOptions& options, const CalibrationData& data) {
  if (options.validation_data.empty()) return invalid_argument("--max-accuracy-drop needs --validation-data");
  if (options.preprocess.empty()) {
    return invalid_argument("--max-accuracy-drop needs --preprocess (the validation images' preprocessing)");
  }
  const bool folder = std::filesystem::is_directory(options.validation_data);
  if (!folder && options.validation_labels.empty()) {
    return invalid_argument("--validation-labels is required with the IDX validation set ", options.validation_data);
  }
  const int64_t count = options.validation_count > 0 ? options.validation_count : kDefaultValidationCount;
  KESTREL_ASSIGN_OR_RETURN(auto validation, open_dataset_slice(options.validation_data, options.validation_labels,
                                                               options.validation_offset, count, "--validation-count"));
  if (!validation->has_labels()) return invalid_argument(options.validation_data, ": has no labels");
  std::error_code error;
  if (!data.source && std::filesystem::equivalent(data.path, options.validation_data, error)) {
    const int64_t first = std::max(data.offset, options.validation_offset);
    const int64_t last = std::min(data.offset + data.count, options.validation_offset + count);
    if (first < last) {
      return invalid_argument("the validation images ", options.validation_offset, "..",
                              options.validation_offset + count - 1, " overlap the calibration images ", data.offset,
                              "..", data.offset + data.count - 1, " of ", data.path, " (images ", first, "..", last - 1,
                              "); choose another --validation-offset or --calibration-offset");
    }
  }
  return validation;
}

std::string rounded(double value, double unit) { return str_cat(std::round(value / unit) * unit); }

Status run_guard(const Graph& optimized, const CalibrationResult& calibration, const Dataset& validation,
                 const ConvertOptions& options, QuantConfig& config, ConvertReport& report) {
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(options.preprocess));
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(validation, spec));
  GuardOptions guard{.max_drop_points = options.max_accuracy_drop,
                     .validation = &validation,
                     .spec = spec,
                     .size = size,
                     .threads = options.threads,
                     .workers = options.workers,
                     .progress = options.progress,
                     .log = options.log};
  KESTREL_ASSIGN_OR_RETURN(GuardResult result, guard_accuracy(optimized, calibration.stats, config, guard));
  config = result.config;
  const auto pct = [](double rate) { return rounded(100 * rate, 0.01) + " %"; };
  report.notes.push_back(
      str_cat("accuracy guard: top-1 on ", result.validation_images, " validation images (", options.validation_data,
              " from ", options.validation_offset, "): FP32 ", pct(result.fp32_top1), ", INT8 ", pct(result.int8_top1),
              result.kept_float.empty() ? str_cat(", within ", options.max_accuracy_drop, " points: no layer moved")
                                        : str_cat(" -> ", pct(result.final_top1), " with ", result.kept_float.size(),
                                                  " of ", result.quantized_layers, " layers back in FP32")));
  for (const std::string& node : result.kept_float) report.notes.push_back(str_cat("  FP32 (accuracy guard): ", node));
  report.notes.push_back(
      str_cat("accuracy guard: latency at batch ", optimized.value(optimized.inputs[0]).shape[0], ", ",
              options.threads > 0 ? str_cat(options.threads, " thread(s)") : "all cores", ": FP32 ",
              rounded(result.fp32_ms, 0.001), " ms, INT8 ", rounded(result.int8_ms, 0.001), " ms (",
              rounded(result.fp32_ms / result.int8_ms, 0.01), "x), this model ", rounded(result.final_ms, 0.001),
              " ms (", rounded(result.fp32_ms / result.final_ms, 0.01), "x)"));
  report.guard = std::move(result);
  return {};
}

Status add_sensitivity(const Graph& optimized, const CalibrationResult& calibration, const CalibrationData& data,
                       const QuantConfig& config, const ConvertOptions& options, ConvertReport& report) {
  if (data.source || has_extension(data.path, ".npy")) {
    return invalid_argument("--sensitivity needs calibration images (an IDX file or an image folder)");
  }
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(options.preprocess));
  KESTREL_ASSIGN_OR_RETURN(
      auto images, open_dataset_slice(data.path, "", data.offset, std::min(options.sensitivity_images, data.count),
                                      "--sensitivity"));
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(*images, spec));
  if (options.log) {
    options.log(str_cat("sensitivity: every quantized layer alone in FP32 and alone in INT8, on ", images->size(),
                        " calibration images"));
  }
  KESTREL_ASSIGN_OR_RETURN(report.sensitivity, measure_sensitivity(optimized, calibration.stats, config,
                                                                   {.images = images.get(),
                                                                    .spec = spec,
                                                                    .size = size,
                                                                    .count = images->size(),
                                                                    .threads = options.threads,
                                                                    .workers = options.workers}));
  return {};
}

// The first `count` calibration images, preprocessed, in batches of the
// optimized graph's input shape.
StatusOr<SampleBatches> calibration_samples(const Graph& graph, const CalibrationData& data,
                                            const ConvertOptions& options, int64_t count, const char* flag) {
  if (data.source) {
    return invalid_argument(flag, " needs calibration data on disk (an IDX file, image folder or .npy)");
  }
  if (count <= 0) return invalid_argument(flag, ": the number of images must be positive, got ", count);
  const Shape shape = graph.value(graph.inputs[0]).shape;
  const int64_t batch = shape[0];
  count = std::min(count, data.count);
  SampleBatches samples;
  if (has_extension(data.path, ".npy")) {
    KESTREL_ASSIGN_OR_RETURN(const Tensor all, read_npy(data.path));
    const int64_t row = all.size() / std::max<int64_t>(all.dim(0), 1);
    if (row * batch != shape_size(shape) || all.dim(0) < data.offset + count) {
      return invalid_argument(data.path, ": ", shape_string(all.shape()), " does not give ", count,
                              " inputs of the model's shape ", shape_string(shape), " from row ", data.offset);
    }
    for (int64_t first = 0; first < count; first += batch) {
      const int64_t rows = std::min(batch, count - first);
      Tensor input(DType::kFloat32, shape);
      std::fill_n(input.data<float>(), input.size(), 0.0f);
      std::memcpy(input.data<float>(), all.data<float>() + (data.offset + first) * row,
                  static_cast<size_t>(rows * row) * sizeof(float));
      samples.batches.push_back(std::move(input));
      samples.counts.push_back(rows);
    }
    return samples;
  }
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(options.preprocess));
  KESTREL_ASSIGN_OR_RETURN(auto images, open_dataset_slice(data.path, "", data.offset, count, flag));
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(*images, spec));
  if (preprocessed_batch_shape(spec, size, batch) != shape) {
    return invalid_argument(data.path, ": preprocessed images are ",
                            shape_string(preprocessed_batch_shape(spec, size, batch)), ", the model takes ",
                            shape_string(shape));
  }
  KESTREL_ASSIGN_OR_RETURN(auto loader, BatchLoader::create(*images, spec, size, count, batch, options.workers));
  for (;;) {
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> next, loader->next());
    if (!next) break;
    samples.batches.push_back(std::move(next->input));
    samples.counts.push_back(next->count);
  }
  return samples;
}

Status run_bias_correction(Graph& graph, const CalibrationResult& calibration, const CalibrationData& data,
                           const QuantConfig& config, const ConvertOptions& options, ConvertReport& report) {
  KESTREL_ASSIGN_OR_RETURN(
      const SampleBatches samples,
      calibration_samples(graph, data, options, options.bias_correction_images, "--bias-correction"));
  if (options.log) {
    options.log(str_cat("bias correction: per-channel input means of every quantized conv on ", samples.images(),
                        " calibration images"));
  }
  KESTREL_ASSIGN_OR_RETURN(BiasCorrectionReport corrected,
                           correct_biases(graph, calibration.stats, config, samples, options.threads));
  double shift = 0;
  for (const CorrectedLayer& layer : corrected.layers) shift += layer.shift;
  const double layers = std::max<double>(1.0, static_cast<double>(corrected.layers.size()));
  report.notes.push_back(str_cat(
      "bias correction: ", corrected.layers.size(), " convs on ", corrected.images,
      " calibration images; mean channel shift removed ", rounded(100 * shift / layers, 0.001),
      " % of the output RMS; logit SQNR against FP32 on those images ", rounded(corrected.logit_sqnr_before_db, 0.01),
      " dB -> ", rounded(corrected.logit_sqnr_after_db, 0.01), " dB"));
  for (const auto& [node, why] : corrected.skipped) {
    report.notes.push_back(str_cat("  not bias-corrected: ", node, " (", why, ")"));
  }
  report.bias_correction = std::move(corrected);
  return {};
}

// Plans and applies cross-layer equalization on `graph`; calibration then
// applies the same plan to the graph it runs.
Status run_equalization(Graph& graph, CalibrationData& data, const ConvertOptions& options, ConvertReport& report) {
  KESTREL_ASSIGN_OR_RETURN(
      const SampleBatches samples,
      calibration_samples(graph, data, options, options.bias_correction_images, "--cross-layer-equalization"));
  KESTREL_ASSIGN_OR_RETURN(EqualizationPlan plan, plan_equalization(graph, samples, options.threads));
  KESTREL_RETURN_IF_ERROR(apply_equalization(graph, plan));
  int64_t channels = 0, held = 0;
  double before = 0, after = 0;
  for (const EqualizedPair& pair : plan.pairs) {
    channels += pair.channels;
    held += pair.held;
    before = std::max(before, pair.spread_before);
    after = std::max(after, pair.spread_after);
  }
  report.notes.push_back(plan.pairs.empty()
                             ? std::string("cross-layer equalization: no conv pair around a depthwise conv to equalize")
                             : str_cat("cross-layer equalization: ", plan.pairs.size(), " conv pairs, ", channels,
                                       " channels (", held, " held at scale 1 by a Clip bound reached on ", plan.images,
                                       " calibration images); widest weight-range spread of a first conv's channels ",
                                       rounded(before, 0.1), "x -> ", rounded(after, 0.1), "x"));
  if (plan.pairs.empty()) return {};  // nothing changed: calibration and its cache as without the step
  data.transform = [plan](Graph& g) { return apply_equalization(g, plan); };
  report.equalization = std::move(plan);
  return {};
}

Status quantize_calibrated(const Graph& source, Graph& graph, const ConvertOptions& options, ConvertReport& report) {
  if (options.calibration_data.empty() && !options.calibration_source) {
    return invalid_argument("--precision int8 needs --calibration-data");
  }
  KESTREL_ASSIGN_OR_RETURN(QuantConfig config, load_quant_config(options));
  KESTREL_RETURN_IF_ERROR(check_config(config, graph, options));
  KESTREL_ASSIGN_OR_RETURN(const int64_t batch, calibration_batch(source, options));
  CalibrationData data{.path = options.calibration_data,
                       .preprocess = options.preprocess,
                       .offset = options.calibration_offset,
                       .batch = batch,
                       .threads = options.threads,
                       .workers = options.workers,
                       .progress = options.progress,
                       .source = options.calibration_source,
                       .source_shape = options.calibration_batch_shape};
  data.count = options.calibration_count > 0  ? options.calibration_count
               : config.calibration_count > 0 ? config.calibration_count
                                              : kDefaultCalibrationCount;
  if (!data.source && fixed_batch(source) > data.count) {
    return invalid_argument("--calibration-count ", data.count, " is smaller than the fixed batch ", batch,
                            " of input '", source.value(source.inputs[0]).name, "'; calibration runs whole batches");
  }
  std::unique_ptr<Dataset> validation;
  if (guarded(options)) {
    KESTREL_ASSIGN_OR_RETURN(validation, open_validation(options, data));
  }
  if (options.cross_layer_equalization) config.cross_layer_equalization = true;
  if (config.cross_layer_equalization) KESTREL_RETURN_IF_ERROR(run_equalization(graph, data, options, report));
  const std::vector<std::string> tensors = tensors_to_calibrate(graph, config);
  KESTREL_ASSIGN_OR_RETURN(const CalibrationResult calibration,
                           calibrate_or_reuse(data, tensors, source, options, report));
  if (options.bias_correction) config.bias_correction = true;
  if (config.bias_correction) {
    KESTREL_RETURN_IF_ERROR(run_bias_correction(graph, calibration, data, config, options, report));
  }
  if (validation) {
    KESTREL_RETURN_IF_ERROR(run_guard(graph, calibration, *validation, options, config, report));
    config.calibration_count = data.count;
    report.guard->config.calibration_count = data.count;
  }
  if (options.sensitivity_images > 0) {
    KESTREL_RETURN_IF_ERROR(add_sensitivity(graph, calibration, data, config, options, report));
  }
  KESTREL_ASSIGN_OR_RETURN(report.quantization, quantize_graph(graph, calibration.stats, config));
  if (options.error_report) {
    KESTREL_RETURN_IF_ERROR(
        add_error_report(source, config, calibration, report).with_context("per-layer error report"));
  }
  const std::string from = data.source ? std::string("the caller's calibration batches")
                           : data.offset > 0
                               ? str_cat("calibration on ", data.count, " images from offset ", data.offset)
                               : str_cat("calibration on ", data.count, " images");
  report.notes.push_back(summary_line(report.quantization, tensors.size(),
                                      str_cat(from, " (", calibration_method_name(config.defaults.method), ")")));
  add_float_notes(report.quantization, report);
  return {};
}

// --max-batch N: dim 0 of every input becomes N, where the model leaves it open.
Status apply_max_batch(Graph& graph, const ConvertOptions& options) {
  for (ValueId id : graph.inputs) {
    Value& input = graph.value(id);
    if (input.shape.empty()) {
      return invalid_argument("--max-batch ", options.max_batch, ": input '", input.name,
                              "' is a scalar, with no batch dimension");
    }
    if (input.shape[0] < 0) input.shape[0] = options.max_batch;
    if (input.shape[0] != options.max_batch) {
      const bool named = options.input_shapes.contains(input.name);
      return invalid_argument("--max-batch ", options.max_batch, ": input '", input.name, "' has batch ",
                              input.shape[0], named ? " in --input-shape" : " fixed in the model",
                              named ? " (give dim 0 as the --max-batch value or leave it out)"
                                    : " (export the model with a dynamic batch dimension)");
    }
  }
  return {};
}

// Every batch below N must give a graph the runtime can run (rebatch.h).
Status check_every_batch(const Graph& graph, int64_t max_batch) {
  for (int64_t batch = 1; batch < max_batch; ++batch) {
    auto rebatched = rebatch_graph(graph, batch);
    if (!rebatched.ok()) {
      return rebatched.status().with_context(
          str_cat("--max-batch ", max_batch, ": the compiled model cannot run batch ", batch));
    }
  }
  return {};
}

// A variable-batch model's plan: the batch-1 graph's plan with every offset
// and the arena times N, valid at N since every batch-major value grows N
// times, and scaled back exactly for each batch b at load
// (runtime/rebatch.h). Kept only where the session's checks accept it at N.
MemoryPlan per_item_plan(const Graph& graph, MemoryPlan plan, int64_t max_batch) {
  auto one = rebatch_graph(graph, 1);
  if (!one.ok()) return plan;
  auto planned = plan_memory(*one, cpu_sums_in_place);
  if (!planned.ok()) return plan;
  MemoryPlan scaled = std::move(planned).value();
  scaled.value_offsets.resize(graph.values.size());  // the batch-1 graph's own shape constants are last
  scaled.arena_bytes *= max_batch;
  for (int64_t& offset : scaled.value_offsets) {
    if (offset >= 0) offset *= max_batch;
  }
  return check_memory_plan(graph, scaled, default_max_arena_bytes()).ok() ? scaled : plan;
}

Status convert_graph(const Graph& source, const ConvertOptions& options, ConvertReport& report) {
  Graph graph = source;
  if (!options.input_shapes.empty()) KESTREL_RETURN_IF_ERROR(set_input_shapes(graph, options.input_shapes));
  if (options.max_batch > 0) KESTREL_RETURN_IF_ERROR(apply_max_batch(graph, options));
  if (set_dynamic_dims(graph, 1) > 0)
    report.notes.emplace_back("note: dynamic input dims set to 1 (use --input-shape to choose)");
  std::optional<QdqRanges> qdq;
  if (count_qdq_pairs(graph) > 0) {
    KESTREL_ASSIGN_OR_RETURN(qdq, fold_qdq_pairs(graph));
    if (options.precision != Precision::kInt8)
      report.notes.emplace_back("note: a quantized model; --precision int8 runs it in int8");
  }
  KESTREL_RETURN_IF_ERROR(optimize_graph(graph));
  if (options.precision == Precision::kInt8) {
    // Before calibration runs the model: a first plan, without in-place sums.
    KESTREL_ASSIGN_OR_RETURN(const MemoryPlan first_plan, plan_memory(graph));
    KESTREL_RETURN_IF_ERROR(check_arena(first_plan.arena_bytes, options));
    KESTREL_RETURN_IF_ERROR(qdq ? quantize_prequantized(*qdq, graph, options, report)
                                : quantize_calibrated(source, graph, options, report));
  }
  if (!options.bake.spec_path.empty()) KESTREL_RETURN_IF_ERROR(bake_preprocess(graph, options.bake));
  KESTREL_ASSIGN_OR_RETURN(CompiledGraph compiled, lower_for_cpu(std::move(graph)));
  KESTREL_RETURN_IF_ERROR(check_arena(compiled.plan.arena_bytes, options));
  KESTREL_RETURN_IF_ERROR(pack_weights_for_cpu(compiled.graph));
  // The float weights a quantized conv replaced, and any other constant no
  // node reads, stay out of the file; the packed weights added above are
  // constants, outside the arena.
  drop_unused_values(compiled.graph, compiled.plan);
  if (options.max_batch > 0) {
    KESTREL_RETURN_IF_ERROR(check_every_batch(compiled.graph, options.max_batch));
    compiled.plan = per_item_plan(compiled.graph, std::move(compiled.plan), options.max_batch);
    KESTREL_RETURN_IF_ERROR(check_arena(compiled.plan.arena_bytes, options));
  }
  ModelFile file{.graph = std::move(compiled.graph), .plan = std::move(compiled.plan)};
  // Conv weights are stored packed for this CPU's kernels, so the file
  // records the ISA it needs; a CPU lacking it is refused at load.
  file.isa = cpu_isa_name();
  KESTREL_ASSIGN_OR_RETURN(file.required_features, isa_features(file.isa));
  if (report.guard) {
    // The config that reproduces this model: convert --quant-config PATH.
    const std::string path =
        options.write_quant_config.empty() ? options.output + ".quant.json" : options.write_quant_config;
    const std::string json = quant_config_json(report.guard->config);
    KESTREL_RETURN_IF_ERROR(write_file_atomically(path, json.data(), json.size(), "quant config"));
    report.quant_config_written = path;
  }
  file.metadata = standard_metadata(options.model);
  file.metadata.emplace_back("converted_on_isa", cpu_isa_name());
  file.metadata.emplace_back("precision", options.precision == Precision::kInt8 ? "int8" : "fp32");
  if (options.max_batch > 0) file.metadata.emplace_back(kMaxBatchKey, std::to_string(options.max_batch));
  if (!options.bake.spec_path.empty()) file.metadata.emplace_back("baked_preprocess", options.bake.spec_path);
  KESTREL_RETURN_IF_ERROR(write_model_file(options.output, file));
  report.nodes = file.graph.nodes.size();
  for (const Node& node : file.graph.nodes) report.fused_nodes += node.domain == "kestrel" && node.op_type != "Reorder";
  report.reorders = count_reorders(file.graph);
  report.arena_bytes = file.plan.arena_bytes;
  return {};
}

}  // namespace

StatusOr<Precision> parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "int8") return Precision::kInt8;
  return invalid_argument("unknown precision '", name, "' (valid: fp32, int8)");
}

StatusOr<ConvertReport> convert_model(const ConvertOptions& options) {
  if (has_extension(options.model, ".kestrel")) return invalid_argument(options.model, ": is already a .kestrel model");
  if (!has_extension(options.model, ".onnx")) {
    return unimplemented(options.model, ": unknown model format '",
                         std::filesystem::path(options.model).extension().string(), "' (expected .onnx)");
  }
  if (!has_extension(options.output, ".kestrel")) {
    return invalid_argument("--output ", options.output, ": must end in .kestrel");
  }
  if (options.precision == Precision::kFp32 && (!options.calibration_data.empty() || options.calibration_source)) {
    return invalid_argument("--calibration-data is for --precision int8");
  }
  if (!options.use_calibration_cache && !options.calibration_cache.empty()) {
    return invalid_argument("--calibration-cache and --no-calibration-cache contradict each other");
  }
  if (guarded(options) && options.precision != Precision::kInt8) {
    return invalid_argument("--max-accuracy-drop is for --precision int8");
  }
  if (!guarded(options) && (!options.validation_data.empty() || !options.write_quant_config.empty())) {
    return invalid_argument(!options.validation_data.empty() ? "--validation-data" : "--write-quant-config",
                            " is for the accuracy guard (--max-accuracy-drop)");
  }
  if (options.precision == Precision::kFp32 && (options.bias_correction || options.cross_layer_equalization)) {
    return invalid_argument(options.bias_correction ? "--bias-correction" : "--cross-layer-equalization",
                            " is for --precision int8");
  }
  if (options.precision == Precision::kFp32 && !options.calibration_cache.empty()) {
    return invalid_argument("--calibration-cache is for --precision int8");
  }
  const bool bake = !options.bake.spec_path.empty();
  if (!bake && (!options.bake.format.empty() || !options.bake.layout.empty() || options.bake.height > 0)) {
    return invalid_argument("--input-format, --input-layout and --input-size are for --bake-preprocess");
  }
  ConvertOptions effective = options;
  if (bake && effective.preprocess.empty()) effective.preprocess = options.bake.spec_path;  // calibration images
  if (bake) KESTREL_RETURN_IF_ERROR(read_preprocess_file(options.bake.spec_path).status());
  KESTREL_ASSIGN_OR_RETURN(const Graph source, import_onnx_file(options.model));
  ConvertReport report;
  Status converted = convert_graph(source, effective, report);
  if (!converted.ok()) return converted.with_context(options.model);
  return report;
}

}  // namespace kestrel
