// kestrel convert: ONNX -> optimized .kestrel offline model.
#include <cstdio>

#include "base/cpu_features.h"
#include "commands.h"
#include "format/model_file.h"
#include "frontend/onnx/onnx_importer.h"
#include "passes/assign_layout.h"
#include "passes/compile.h"
#include "runtime/cpu_backend.h"

namespace kestrel::cli {
namespace {

struct ConvertOptions {
  std::string model, output, input_shape, precision = "fp32";
};

Status convert(const ConvertOptions& options) {
  if (options.precision != "fp32") {
    return unimplemented("--precision ", options.precision, " is not available yet (only fp32)");
  }
  if (is_kestrel_file(options.model)) return invalid_argument(options.model, ": is already a .kestrel model");
  if (!is_kestrel_file(options.output)) return invalid_argument("--output ", options.output, ": must end in .kestrel");
  KESTREL_ASSIGN_OR_RETURN(auto source, load_onnx_model(options.model));
  Graph graph = *source;
  if (!options.input_shape.empty()) {
    KESTREL_ASSIGN_OR_RETURN(InputShapes shapes, parse_input_shapes(options.input_shape));
    KESTREL_RETURN_IF_ERROR(set_input_shapes(graph, shapes));
  }
  if (set_dynamic_dims(graph, 1) > 0) std::printf("note: dynamic input dims set to 1 (use --input-shape to choose)\n");
  auto compiled = compile_for_cpu(std::move(graph));
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
  cmd->add_option("--precision", options->precision, "fp32 (int8 is coming)")->check(CLI::IsMember({"fp32", "int8"}));
  return [options] { return convert(*options); };
}

}  // namespace kestrel::cli
