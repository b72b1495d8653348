// kestrel inspect: the graph after shape inference: every node with its
// output shapes, parameter count and MACs, and the totals. With --explain:
// the compiled graph, every node with the implementation the CPU backend's
// registry chose, the kernel it created, and why each earlier candidate
// refused the node.
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/checked_math.h"
#include "base/cpu_features.h"
#include "commands.h"
#include "format/model_file.h"
#include "kernels/activation.h"
#include "kernels/image_preprocess.h"
#include "passes/compile.h"
#include "passes/cost_model.h"
#include "passes/passes.h"
#include "passes/shape_inference.h"
#include "planner/memory_planner.h"
#include "runtime/cpu_backend.h"
#include "runtime/session.h"

namespace kestrel::cli {
namespace {

struct InspectOptions {
  std::string model;
  std::string input_shape;
  bool json = false;
  bool optimize = false;
  bool explain = false;
};

struct NodeRow {
  std::string name, op, shapes, fused;
  std::string precision;  // "int8" when the node computes on int8/uint8 data, else "fp32"
  std::string output_type;
  float scale = 0;  // of the first output, when quantized
  int64_t zero_point = 0;
  int64_t params = 0;
  int64_t macs = 0;
};

std::string output_shapes(const Graph& graph, const Node& node) {
  std::string text;
  for (ValueId out : node.outputs) {
    if (out != kNoValue) text += (text.empty() ? "" : " ") + shape_string(graph.value(out).shape);
  }
  return text;
}

// Totals of huge models saturate at INT64_MAX rather than wrap negative.
int64_t add_saturating(int64_t total, int64_t value) {
  return checked_add(total, value).value_or(std::numeric_limits<int64_t>::max());
}

bool is_byte_type(DType dtype) { return dtype == DType::kInt8 || dtype == DType::kUInt8; }

// int8 when the node reads or writes a quantized activation (weights aside).
std::string node_precision(const Graph& graph, const Node& node) {
  if (node.op_type == "QuantizeLinear" || node.op_type == "DequantizeLinear" || node.op_type == kPreprocessFrameOp) {
    return "convert";
  }
  for (ValueId in : node.inputs) {
    if (in != kNoValue && !graph.value(in).constant && is_byte_type(graph.value(in).dtype)) return "int8";
  }
  return "fp32";
}

// "FusedConv+Sum+Relu": the op and what runs inside it.
std::string op_label(const Node& node) {
  std::string label = node.op_type;
  if (node.inputs.size() > 3 && node.inputs[3] != kNoValue) label += "+Sum";
  if (node.attrs.has("activation")) label += "+" + node.attrs.get_string("activation", "");
  return label;
}

std::string fused_names(const Node& node) {
  std::string names;
  auto it = node.attrs.all().find("fused_nodes");
  if (it == node.attrs.all().end()) return names;
  for (const auto& name : std::get<std::vector<std::string>>(it->second)) names += (names.empty() ? "" : ",") + name;
  return names;
}

std::vector<NodeRow> node_rows(const Graph& graph) {
  std::vector<NodeRow> rows;
  for (const Node& node : graph.nodes) {
    NodeRow row{node.name, op_label(node), output_shapes(graph, node), fused_names(node)};
    for (ValueId in : node.inputs) {
      if (in != kNoValue && graph.value(in).constant) row.params += graph.value(in).constant->size();
    }
    row.macs = node_macs(graph, node);
    row.precision = node_precision(graph, node);
    if (!node.outputs.empty() && node.outputs[0] != kNoValue) {
      const Value& out = graph.value(node.outputs[0]);
      row.output_type = dtype_name(out.dtype);
      if (out.quant && out.quant->scales.size() == 1) {
        row.scale = out.quant->scales[0];
        row.zero_point = out.quant->zero_points.empty() ? 0 : out.quant->zero_points[0];
      }
    }
    rows.push_back(row);
  }
  return rows;
}

// "rgb8 frames 480x640 (NHWC) -> resize 224x224 bilinear, centre crop ..., mean [...], std [...] -> int8".
std::string baked_stage_line(const Graph& graph) {
  auto stage = read_frame_stage(graph.nodes.front(), graph.value(graph.inputs[0]).shape);
  if (!stage.ok()) return stage.status().message();
  const PreprocessSpec& spec = stage->spec;
  auto floats = [](const std::vector<float>& values) {
    std::string text = "[";
    for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
    return text + "]";
  };
  std::string line =
      str_cat(frame_format_name(stage->frame.format), " frames ", stage->frame.height, "x", stage->frame.width,
              stage->frame.format == FrameFormat::kNv12 ? ""
              : stage->frame.planar                     ? " (NCHW)"
                                                        : " (NHWC)");
  if (spec.resize_shorter_side)
    line += str_cat(" -> resize shorter side ", spec.resize_shorter_side, " ", spec.resize_mode);
  if (spec.resize_height)
    line += str_cat(" -> resize ", spec.resize_height, "x", spec.resize_width, " ", spec.resize_mode);
  if (spec.crop_height) line += str_cat(" -> centre crop ", spec.crop_height, "x", spec.crop_width);
  line += str_cat(" -> ", spec.color, ", x * ", spec.scale, ", mean ", floats(spec.mean), ", std ", floats(spec.std));
  line += str_cat(" -> ", dtype_name(stage->output.dtype), " ", shape_string(stage->output_shape));
  if (stage->output.dtype != DType::kFloat32) {
    line += str_cat(" (quantized in the stage: scale ", stage->output.scale, ", zero point ", stage->output.zero_point,
                    ")");
  }
  return line;
}

std::string value_line(const Value& value) {
  return value.name + "  " + dtype_name(value.dtype) + " " + shape_string(value.shape);
}

void print_text(const Graph& graph, const std::string& path, const std::vector<NodeRow>& rows, int64_t params) {
  std::cout << "model: " << path << "  (opset " << graph.opset << ", " << graph.nodes.size() << " nodes)\n";
  for (ValueId in : graph.inputs) std::cout << "input:  " << value_line(graph.value(in)) << "\n";
  if (!graph.nodes.empty() && graph.nodes.front().op_type == kPreprocessFrameOp && !graph.inputs.empty()) {
    std::cout << "baked preprocessing: " << baked_stage_line(graph) << "\n";
  }
  for (ValueId out : graph.outputs) std::cout << "output: " << value_line(graph.value(out)) << "\n\n";
  std::printf("%5s  %-36s %-26s %-22s %-8s %-24s %12s %14s  %s\n", "#", "node", "op", "output shape", "compute",
              "output dtype (scale, zp)", "params", "MACs", "fused");
  int64_t macs = 0;
  int int8_nodes = 0;
  std::vector<std::string> float_nodes;
  for (size_t i = 0; i < rows.size(); ++i) {
    const NodeRow& row = rows[i];
    const std::string type =
        row.scale > 0 ? str_cat(row.output_type, " (", row.scale, ", ", row.zero_point, ")") : row.output_type;
    std::printf("%5zu  %-36s %-26s %-22s %-8s %-24s %12lld %14lld  %s\n", i, row.name.c_str(), row.op.c_str(),
                row.shapes.c_str(), row.precision.c_str(), type.c_str(), static_cast<long long>(row.params),
                static_cast<long long>(row.macs), row.fused.c_str());
    macs = add_saturating(macs, row.macs);
    int8_nodes += row.precision == "int8";
    if (row.precision == "fp32" && row.op != "Reorder") float_nodes.push_back(row.name);
  }
  if (int8_nodes > 0) {
    std::printf("\nint8: %d nodes; FP32 islands (%zu nodes):", int8_nodes, float_nodes.size());
    for (const std::string& name : float_nodes) std::printf(" %s", name.c_str());
    std::printf("\n");
  }
  std::printf("\ntotal: %lld parameters (%.2f M), %lld MACs (%.3f G)\n", static_cast<long long>(params),
              static_cast<double>(params) / 1e6, static_cast<long long>(macs), static_cast<double>(macs) / 1e9);
}

void print_json(const Graph& graph, const std::vector<NodeRow>& rows, int64_t params, int64_t arena_bytes,
                int64_t activation_bytes) {
  nlohmann::json out;
  int64_t macs = 0;
  for (const NodeRow& row : rows) {
    out["nodes"].push_back({{"name", row.name},
                            {"op", row.op},
                            {"output_shapes", row.shapes},
                            {"params", row.params},
                            {"macs", row.macs},
                            {"fused", row.fused},
                            {"precision", row.precision},
                            {"output_dtype", row.output_type}});
    if (row.scale > 0) {
      out["nodes"].back()["output_scale"] = row.scale;
      out["nodes"].back()["output_zero_point"] = row.zero_point;
    }
    macs = add_saturating(macs, row.macs);
  }
  for (ValueId in : graph.inputs)
    out["inputs"].push_back({{"name", graph.value(in).name}, {"shape", graph.value(in).shape}});
  for (ValueId o : graph.outputs)
    out["outputs"].push_back({{"name", graph.value(o).name}, {"shape", graph.value(o).shape}});
  out["opset"] = graph.opset;
  out["params"] = params;
  out["macs"] = macs;
  out["arena_bytes"] = arena_bytes;
  out["activation_bytes"] = activation_bytes;
  std::cout << out.dump() << "\n";
}

int64_t parameter_count(const Graph& graph) {
  int64_t params = 0;
  for (const Node& node : graph.nodes) {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ValueId in = node.inputs[i];
      if (in == kNoValue || !graph.value(in).constant) continue;
      const bool packed_weight = i == 1 && node.attrs.has("weight_shape");
      params = add_saturating(
          params, packed_weight ? shape_size(node.attrs.get_ints("weight_shape")) : graph.value(in).constant->size());
    }
  }
  return params;
}

void report(const Graph& graph, const InspectOptions& options, int64_t arena_bytes) {
  const auto rows = node_rows(graph);
  const int64_t params = parameter_count(graph);
  const int64_t activations = total_activation_bytes(graph);
  if (options.json) {
    print_json(graph, rows, params, arena_bytes, activations);
    return;
  }
  print_text(graph, options.model, rows, params);
  std::printf("memory: activation arena %.2f MB (all intermediate activations %.2f MB without reuse)\n",
              arena_bytes / 1e6, activations / 1e6);
}

struct ExplainRow {
  std::string name, op, implementation, kernel;
  std::vector<std::pair<std::string_view, std::string>> refused;
};

// The registry's choice per node, and the kernel a session creates for it
// (one thread, unpinned: the choice does not depend on the thread count).
StatusOr<std::vector<ExplainRow>> explain_rows(const Graph& graph, const MemoryPlan& plan) {
  KESTREL_ASSIGN_OR_RETURN(
      auto session, Session::create(std::make_shared<const Graph>(graph), plan, {.threads = 1, .pin_threads = false}));
  std::vector<ExplainRow> rows;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    ImplementationChoice choice = choose_cpu_implementation(graph, node);
    rows.push_back({node.name, op_label(node), std::string(choice.chosen->name), session->profile()[i].implementation,
                    std::move(choice.refused)});
  }
  return rows;
}

void print_explain_text(const Graph& graph, const std::string& path, const std::vector<ExplainRow>& rows) {
  std::cout << "model: " << path << "  (" << graph.nodes.size() << " nodes, compiled for this CPU: " << cpu_isa_name()
            << ")\n";
  std::printf("%5s  %-44s %-22s %-28s %-36s  %s\n", "#", "node", "op", "implementation", "kernel",
              "refused by (reason)");
  std::map<std::string, int> counts;
  for (size_t i = 0; i < rows.size(); ++i) {
    const ExplainRow& row = rows[i];
    std::string refused;
    for (const auto& [name, reason] : row.refused)
      refused += (refused.empty() ? "" : "; ") + str_cat(name, " (", reason, ")");
    std::printf("%5zu  %-44s %-22s %-28s %-36s  %s\n", i, row.name.c_str(), row.op.c_str(), row.implementation.c_str(),
                row.kernel.c_str(), refused.c_str());
    ++counts[row.implementation];
  }
  std::printf("\nimplementations:");
  for (const auto& [name, count] : counts) std::printf(" %s %d,", name.c_str(), count);
  std::printf("\n");
}

void print_explain_json(const std::vector<ExplainRow>& rows) {
  nlohmann::json out;
  out["nodes"] = nlohmann::json::array();
  for (const ExplainRow& row : rows) {
    nlohmann::json refused = nlohmann::json::array();
    for (const auto& [name, reason] : row.refused) refused.push_back({{"implementation", name}, {"reason", reason}});
    out["nodes"].push_back({{"name", row.name},
                            {"op", row.op},
                            {"implementation", row.implementation},
                            {"kernel", row.kernel},
                            {"refused", refused}});
  }
  out["isa"] = cpu_isa_name();
  std::cout << out.dump() << "\n";
}

Status explain(const Graph& graph, const MemoryPlan& plan, const InspectOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(const std::vector<ExplainRow> rows, explain_rows(graph, plan));
  if (options.json) print_explain_json(rows);
  else print_explain_text(graph, options.model, rows);
  return {};
}

// A .kestrel file: the compiled graph as stored, with its memory plan.
Status inspect_compiled(const InspectOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(ModelFile file, load_model_file(options.model));
  if (options.explain) return explain(file.graph, file.plan, options).with_context(options.model);
  for (const auto& [key, value] : file.metadata) {
    if (!options.json) std::printf("%s: %s\n", key.c_str(), value.c_str());
  }
  report(file.graph, options, file.plan.arena_bytes);
  return {};
}

Status inspect(const InspectOptions& options) {
  if (is_kestrel_file(options.model)) return inspect_compiled(options);
  KESTREL_ASSIGN_OR_RETURN(auto loaded, load_onnx_model(options.model));
  Graph graph = *loaded;
  if (!options.input_shape.empty()) {
    KESTREL_ASSIGN_OR_RETURN(InputShapes shapes, parse_input_shapes(options.input_shape));
    KESTREL_RETURN_IF_ERROR(set_input_shapes(graph, shapes));
  }
  if (set_dynamic_dims(graph, 1) > 0 && !options.json) {
    std::cout << "note: dynamic input dims set to 1 (use --input-shape to choose)\n";
  }
  KESTREL_RETURN_IF_ERROR(infer_shapes(graph).with_context(options.model));
  if (options.explain) {
    auto compiled = compile_for_cpu(std::move(graph));
    if (!compiled.ok()) return compiled.status().with_context(options.model);
    return explain(compiled->graph, compiled->plan, options).with_context(options.model);
  }
  if (options.optimize) KESTREL_RETURN_IF_ERROR(optimize_graph(graph).with_context(options.model));
  KESTREL_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(graph));
  report(graph, options, plan.arena_bytes);
  return {};
}

}  // namespace

Command add_inspect_command(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Print a model's graph: shapes, parameters and MACs per node");
  cmd->add_option("--model", options->model, "Model file (.onnx or .kestrel)")->required();
  cmd->add_option("--input-shape", options->input_shape, "NAME:D0,D1,...[;NAME:...] for dynamic inputs");
  cmd->add_flag("--optimize", options->optimize, "Show the graph after Kestrel's passes (folding, fusion)");
  cmd->add_flag("--explain", options->explain,
                "Per node of the compiled graph: the implementation chosen, its kernel, and why earlier "
                "candidates refused it (an .onnx model is compiled first)");
  cmd->add_flag("--json", options->json, "Print one JSON object");
  return [options] { return inspect(*options); };
}

}  // namespace kestrel::cli
