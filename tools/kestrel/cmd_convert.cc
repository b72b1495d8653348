// kestrel convert: ONNX -> optimized .kestrel offline model, FP32 or INT8
// (post-training quantization calibrated on a folder of images, an IDX file
// or a .npy tensor).
#include <cstdio>
#include <optional>

#include "base/cpu_features.h"
#include "commands.h"
#include "format/model_file.h"
#include "frontend/onnx/onnx_importer.h"
#include "io/progress.h"
#include "passes/assign_layout.h"
#include "passes/compile.h"
#include "passes/passes.h"
#include "quant/calibration_run.h"
#include "quant/qdq_import.h"
#include "quant/quant_config.h"
#include "quant/quantize_graph.h"
#include "runtime/cpu_backend.h"

namespace kestrel::cli {
namespace {

struct ConvertOptions {
  std::string model, output, input_shape, precision = "fp32";
  std::string calibration_data, preprocess, calibration_method, quant_config;
  int64_t calibration_count = 0;  // 0: the config's, else kDefaultCalibrationCount
  int64_t calibration_batch = kDefaultCalibrationBatch;
  double percentile = 0;          // 0: the config's default
  int threads = 0;
  int workers = 1;
  bool quiet = false;
};

StatusOr<QuantConfig> load_quant_config(const ConvertOptions& options) {
  QuantConfig config;
  if (!options.quant_config.empty()) {
    KESTREL_ASSIGN_OR_RETURN(config, read_quant_config(options.quant_config));
  }
  // Flags given on the command line override the file's defaults.
  if (!options.calibration_method.empty()) {
    KESTREL_ASSIGN_OR_RETURN(config.defaults.method, parse_calibration_method(options.calibration_method));
  }
  if (options.percentile != 0) config.defaults.percentile = options.percentile;
  return config;
}

void print_summary(const QuantizationSummary& summary, size_t tensors, const std::string& source) {
  std::printf("%zu tensor ranges from %s; quantized %zu convs, %d quantize and %d dequantize nodes\n", tensors,
              source.c_str(), summary.quantized.size(), summary.quantize_nodes, summary.dequantize_nodes);
  for (const auto& [name, why] : summary.kept_float) std::printf("  FP32: %s (%s)\n", name.c_str(), why.c_str());
}

Status check_config(const QuantConfig& config, const Graph& graph) {
  std::vector<std::pair<std::string, std::string>> nodes;
  for (const Node& node : graph.nodes) nodes.emplace_back(node.name, source_op_type(node));
  return check_overrides_match(config, nodes);
}

// A model that carries QuantizeLinear/DequantizeLinear pairs: its ranges
// replace calibration.
Status quantize_prequantized(const QdqRanges& ranges, Graph& graph, const ConvertOptions& options) {
  if (!options.calibration_data.empty() || !options.calibration_method.empty()) {
    return invalid_argument("the model is already quantized (", ranges.folded_pairs,
                            " QuantizeLinear/DequantizeLinear pairs): its scales are used, so "
                            "--calibration-data and --calibration-method do not apply");
  }
  KESTREL_ASSIGN_OR_RETURN(QuantConfig config, load_quant_config(options));
  KESTREL_RETURN_IF_ERROR(check_config(config, graph));
  // The file gives each tensor's range: the whole range is kept.
  config.defaults.method = CalibrationMethod::kMinMax;
  for (QuantOverride& override : config.overrides) override.method.reset();
  KESTREL_ASSIGN_OR_RETURN(const QuantizationSummary summary,
                           quantize_graph(graph, ranges.stats, config, {.keep_float_without_stats = true}));
  if (!options.quiet) print_summary(summary, ranges.stats.size(), "the model's QuantizeLinear/DequantizeLinear pairs");
  return {};
}

Status quantize(const Graph& source, Graph& graph, const ConvertOptions& options) {
  if (options.calibration_data.empty()) return invalid_argument("--precision int8 needs --calibration-data");
  KESTREL_ASSIGN_OR_RETURN(const QuantConfig config, load_quant_config(options));
  KESTREL_RETURN_IF_ERROR(check_config(config, graph));

  CalibrationData data{.path = options.calibration_data, .preprocess = options.preprocess,
                       .batch = options.calibration_batch, .threads = options.threads, .workers = options.workers,
                       .progress = !options.quiet && ProgressBar::stderr_is_terminal()};
  data.count = options.calibration_count > 0 ? options.calibration_count
               : config.calibration_count > 0 ? config.calibration_count
                                              : kDefaultCalibrationCount;
  const std::vector<std::string> tensors = tensors_to_calibrate(graph, config);
  KESTREL_ASSIGN_OR_RETURN(const auto stats, calibrate(source, data, tensors));
  KESTREL_ASSIGN_OR_RETURN(const QuantizationSummary summary, quantize_graph(graph, stats, config));
  if (!options.quiet) {
    print_summary(summary, tensors.size(),
                  str_cat("calibration on ", data.count, " images (", calibration_method_name(config.defaults.method), ")"));
  }
  return {};
}

Status convert(const ConvertOptions& options) {
  if (is_kestrel_file(options.model)) return invalid_argument(options.model, ": is already a .kestrel model");
  if (!is_kestrel_file(options.output)) return invalid_argument("--output ", options.output, ": must end in .kestrel");
  if (options.precision == "fp32" && !options.calibration_data.empty()) {
    return invalid_argument("--calibration-data is for --precision int8");
  }
  KESTREL_ASSIGN_OR_RETURN(auto source, load_onnx_model(options.model));
  Graph graph = *source;
  if (!options.input_shape.empty()) {
    KESTREL_ASSIGN_OR_RETURN(InputShapes shapes, parse_input_shapes(options.input_shape));
    KESTREL_RETURN_IF_ERROR(set_input_shapes(graph, shapes));
  }
  if (set_dynamic_dims(graph, 1) > 0) std::printf("note: dynamic input dims set to 1 (use --input-shape to choose)\n");
  std::optional<QdqRanges> qdq;
  if (count_qdq_pairs(graph) > 0) {
    auto folded = fold_qdq_pairs(graph);
    if (!folded.ok()) return folded.status().with_context(options.model);
    qdq = std::move(*folded);
    if (options.precision != "int8") std::printf("note: a quantized model; --precision int8 runs it in int8\n");
  }
  Status optimized = optimize_graph(graph);
  if (!optimized.ok()) return optimized.with_context(options.model);
  if (options.precision == "int8") {
    Status quantized = qdq ? quantize_prequantized(*qdq, graph, options) : quantize(*source, graph, options);
    if (!quantized.ok()) return quantized.with_context(options.model);
  }
  auto compiled = lower_for_cpu(std::move(graph));
  if (!compiled.ok()) return compiled.status().with_context(options.model);

  KESTREL_RETURN_IF_ERROR(pack_weights_for_cpu(compiled->graph).with_context(options.model));
  compiled->plan.value_offsets.resize(compiled->graph.values.size(), -1);  // packed weights are constants
  ModelFile file{.graph = std::move(compiled->graph), .plan = std::move(compiled->plan)};
  // Conv weights are stored packed for this CPU's kernels, so the file
  // records the ISA it needs; a CPU lacking it is refused at load.
  file.isa = cpu_isa_name();
  KESTREL_ASSIGN_OR_RETURN(file.required_features, isa_features(file.isa));
  file.metadata = standard_metadata(options.model);
  file.metadata.emplace_back("converted_on_isa", cpu_isa_name());
  file.metadata.emplace_back("precision", options.precision);
  KESTREL_RETURN_IF_ERROR(write_model_file(options.output, file));

  int fused = 0;
  for (const Node& node : file.graph.nodes) fused += node.domain == "kestrel" && node.op_type != "Reorder";
  std::printf("%s -> %s: %zu nodes (%d fused), %d layout reorders, activation arena %.2f MB\n",
              options.model.c_str(), options.output.c_str(), file.graph.nodes.size(), fused,
              count_reorders(file.graph), file.plan.arena_bytes / 1e6);
  return {};
}

}  // namespace

Command add_convert_command(CLI::App& app) {
  auto options = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand("convert", "Compile an ONNX model into an optimized .kestrel model");
  cmd->add_option("--model", options->model, "Source model (.onnx)")->required();
  cmd->add_option("--output", options->output, "Output model (.kestrel)")->required();
  cmd->add_option("--input-shape", options->input_shape, "NAME:D0,D1,...[;NAME:...] (dynamic dims default to 1)");
  cmd->add_option("--precision", options->precision, "fp32 or int8 (post-training quantization)")
      ->check(CLI::IsMember({"fp32", "int8"}));
  cmd->add_option("--calibration-data", options->calibration_data,
                  "int8: calibration images (folder of PNG/JPEG, IDX file) or a .npy float32 [N,...] of inputs");
  cmd->add_option("--calibration-count", options->calibration_count, "int8: use the first N images (default 512)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--calibration-method", options->calibration_method,
                  "int8: activation range method (default percentile)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  cmd->add_option("--percentile", options->percentile, "int8: percentile for --calibration-method percentile (default 99.99)")
      ->check(CLI::Range(1e-9, 100.0));
  cmd->add_option("--calibration-batch", options->calibration_batch, "int8: images per calibration run (default 16)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--preprocess", options->preprocess, "int8: preprocessing spec (JSON) for calibration images");
  cmd->add_option("--quant-config", options->quant_config, "int8: quantization config (JSON, docs/quantization.md)");
  cmd->add_option("--threads", options->threads, "Threads for calibration (default: all cores)")->check(CLI::Range(1, 256));
  cmd->add_option("--workers", options->workers, "Image decoding threads for calibration")->check(CLI::Range(1, 64));
  cmd->add_flag("--quiet", options->quiet, "No progress or summary");
  return [options] { return convert(*options); };
}

}  // namespace kestrel::cli
