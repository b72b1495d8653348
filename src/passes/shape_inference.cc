#include "passes/shape_inference.h"

#include <sstream>
#include <unordered_map>

#include "kernels/op_registry.h"

namespace kestrel {
namespace {

// Only values up to this size are evaluated while inferring: enough for any
// shape arithmetic, small enough that inference never runs the heavy layers.
constexpr int64_t kMaxFoldedElements = 1 << 16;

bool is_known(const Value& value) {
  if (!value.shape_known) return false;
  for (int64_t dim : value.shape) {
    if (dim < 0) return false;
  }
  return true;
}

}  // namespace

StatusOr<InputShapes> parse_input_shapes(const std::string& spec) {
  InputShapes shapes;
  std::istringstream entries(spec);
  std::string entry;
  while (std::getline(entries, entry, ';')) {
    if (entry.empty()) continue;
    const size_t colon = entry.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return invalid_argument("--input-shape '", entry, "': expected NAME:D0,D1,... (e.g. input:1,3,224,224)");
    }
    Shape shape;
    std::istringstream dims(entry.substr(colon + 1));
    std::string dim;
    while (std::getline(dims, dim, ',')) {
      size_t used = 0;
      int64_t value = -1;
      try {
        value = std::stoll(dim, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != dim.size() || value <= 0) {
        return invalid_argument("--input-shape '", entry, "': dim '", dim, "' is not a positive integer");
      }
      shape.push_back(value);
    }
    shapes[entry.substr(0, colon)] = shape;
  }
  if (shapes.empty()) return invalid_argument("--input-shape '", spec, "' names no input");
  return shapes;
}

Status set_input_shapes(Graph& graph, const InputShapes& shapes) {
  for (const auto& [name, shape] : shapes) {
    ValueId id = kNoValue;
    for (ValueId input : graph.inputs) {
      if (graph.value(input).name == name) id = input;
    }
    if (id == kNoValue) {
      std::string names;
      for (ValueId input : graph.inputs) names += (names.empty() ? "'" : ", '") + graph.value(input).name + "'";
      return invalid_argument("--input-shape names '", name, "', which is not a model input (inputs: ", names, ")");
    }
    Value& value = graph.value(id);
    if (value.shape_known) {
      bool compatible = value.shape.size() == shape.size();
      for (size_t i = 0; compatible && i < shape.size(); ++i) {
        compatible = value.shape[i] < 0 || value.shape[i] == shape[i];
      }
      if (!compatible) {
        return invalid_argument("input '", name, "': shape ", shape_string(shape), " contradicts the model's ",
                                shape_string(value.shape), " (-1 = free)");
      }
    }
    value.shape = shape;
    value.shape_known = true;
  }
  return {};
}

int set_dynamic_dims(Graph& graph, int64_t dim_value) {
  int count = 0;
  for (ValueId input : graph.inputs) {
    for (int64_t& dim : graph.value(input).shape) {
      if (dim < 0) {
        dim = dim_value;
        ++count;
      }
    }
  }
  return count;
}

Status infer_shapes(Graph& graph) {
  for (ValueId input : graph.inputs) {
    const Value& value = graph.value(input);
    if (!is_known(value)) {
      return invalid_argument("input '", value.name, "' has shape ", value.shape_known ? shape_string(value.shape) : "?",
                              " with unknown dims; give it with --input-shape ", value.name, ":D0,D1,...");
    }
  }
  // Compile-time values: initializers plus small values computed on the way.
  std::unordered_map<ValueId, Tensor> known;
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (graph.values[v].constant) known[static_cast<ValueId>(v)] = *graph.values[v].constant;
  }
  for (const Node& node : graph.nodes) {
    const OpDef* def = OpRegistry::global().find(node);
    if (def == nullptr) return unimplemented(node.label(), ": op is not supported");
    std::vector<TensorInfo> infos(node.inputs.size());
    std::vector<const Tensor*> data(node.inputs.size(), nullptr);
    bool all_known = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] == kNoValue) continue;
      const Value& value = graph.value(node.inputs[i]);
      auto it = known.find(node.inputs[i]);
      data[i] = it == known.end() ? nullptr : &it->second;
      all_known &= data[i] != nullptr;
      infos[i] = {value.dtype, value.shape, data[i]};
    }
    InferContext ctx(node, graph.opset, std::move(infos));
    KESTREL_RETURN_IF_ERROR(def->infer(ctx));
    bool small = true;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] == kNoValue) continue;
      Value& out = graph.value(node.outputs[i]);
      out.dtype = ctx.outputs()[i].dtype;
      out.shape = ctx.outputs()[i].shape;
      out.shape_known = true;
      if (ctx.outputs()[i].data) known[node.outputs[i]] = *ctx.outputs()[i].data;
      small &= shape_size(out.shape) <= kMaxFoldedElements;
    }
    if (!all_known || !small || def->run == nullptr) continue;
    KESTREL_ASSIGN_OR_RETURN(std::vector<Tensor> results, run_node(*def, node, graph.opset, data));
    for (size_t i = 0; i < node.outputs.size() && i < results.size(); ++i) {
      if (node.outputs[i] != kNoValue) known[node.outputs[i]] = std::move(results[i]);
    }
  }
  return {};
}

}  // namespace kestrel
