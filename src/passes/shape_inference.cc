#include "passes/shape_inference.h"

#include <optional>
#include <sstream>
#include <unordered_map>

#include "base/checked_math.h"
#include "kernels/op_registry.h"

namespace kestrel {
namespace {

// Only values up to this size are evaluated while inferring: enough for any
// shape arithmetic, small enough that inference never runs the heavy layers.
constexpr int64_t kMaxFoldedElements = 1 << 16;

// The widest element type: a shape whose bytes fit at this size fits any type.
constexpr int64_t kWidestElementBytes = 8;

// Element count and byte size, overflow-checked; the reason when they overflow.
std::optional<std::string> size_overflow(const Shape& shape, DType dtype) {
  const auto elements = checked_element_count(shape);
  if (!elements) return str_cat("shape ", shape_string(shape), " has more elements than 64-bit sizes can count");
  const int64_t item = dtype_is_supported(dtype) ? static_cast<int64_t>(dtype_size(dtype)) : kWidestElementBytes;
  if (!checked_bytes(*elements, item)) {
    return str_cat("shape ", shape_string(shape), " (", *elements,
                   " elements) has more bytes than 64-bit sizes can count");
  }
  return std::nullopt;
}

bool is_known(const Value& value) {
  if (!value.shape_known) return false;
  for (int64_t dim : value.shape) {
    if (dim < 0) return false;
  }
  return true;
}

// Every shape a shape function computes is checked here, once for all ops:
// nothing downstream (planner, kernels, oneDNN) sees a size that overflowed.
Status check_output_shape(const Node& node, const Value& out) {
  bool unknown = false;  // -1: a dim only known at run time
  for (size_t d = 0; d < out.shape.size(); ++d) {
    if (out.shape[d] == kOverflowedDim) {
      return invalid_argument(node.label(), ": output '", out.name, "': dim ", d,
                              " is larger than 64-bit sizes can count");
    }
    if (out.shape[d] < -1) {
      return invalid_argument(node.label(), ": output '", out.name, "' has the negative dim ", out.shape[d], " at ", d,
                              " in shape ", shape_string(out.shape));
    }
    unknown |= out.shape[d] == -1;
  }
  if (unknown) return {};
  if (auto overflow = size_overflow(out.shape, out.dtype)) {
    return invalid_argument(node.label(), ": output '", out.name, "': ", *overflow);
  }
  return {};
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
    if (auto overflow = size_overflow(shape, DType::kUndefined)) {
      return invalid_argument("--input-shape '", entry, "': ", *overflow);
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
      return invalid_argument("input '", value.name, "' has shape ",
                              value.shape_known ? shape_string(value.shape) : "?",
                              " with unknown dims; give it with --input-shape ", value.name, ":D0,D1,...");
    }
    if (auto overflow = size_overflow(value.shape, value.dtype))
      return invalid_argument("input '", value.name, "': ", *overflow);
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
      KESTREL_RETURN_IF_ERROR(check_output_shape(node, out));
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
