#include "runtime/interpreter.h"

namespace kestrel {

StatusOr<Interpreter> Interpreter::create(std::shared_ptr<const Graph> graph) {
  KESTREL_RETURN_IF_ERROR(check_supported_ops(*graph));
  Interpreter interpreter;
  for (const Node& node : graph->nodes) interpreter.ops_.push_back(OpRegistry::global().find(node));

  interpreter.last_consumer_.assign(graph->values.size(), -1);
  for (size_t n = 0; n < graph->nodes.size(); ++n) {
    for (ValueId in : graph->nodes[n].inputs) {
      if (in != kNoValue) interpreter.last_consumer_[static_cast<size_t>(in)] = static_cast<int64_t>(n);
    }
  }
  // Graph outputs must survive to the end.
  for (ValueId out : graph->outputs) {
    interpreter.last_consumer_[static_cast<size_t>(out)] = static_cast<int64_t>(graph->nodes.size());
  }
  interpreter.graph_ = std::move(graph);
  return interpreter;
}

Status Interpreter::check_input(const Value& declared, const Tensor& given) const {
  if (given.dtype() != declared.dtype) {
    return invalid_argument("input '", declared.name, "': expected ", dtype_name(declared.dtype), ", got ",
                            dtype_name(given.dtype()));
  }
  if (!declared.shape_known) return {};
  bool matches = given.rank() == static_cast<int64_t>(declared.shape.size());
  for (size_t i = 0; matches && i < declared.shape.size(); ++i) {
    matches = declared.shape[i] < 0 || declared.shape[i] == given.shape()[i];
  }
  if (!matches) {
    return invalid_argument("input '", declared.name, "': expected shape ", shape_string(declared.shape),
                            " (-1 = any), got ", shape_string(given.shape()));
  }
  return {};
}

StatusOr<std::vector<Tensor>> Interpreter::run(const std::map<std::string, Tensor>& inputs,
                                               const Observer& observer) const {
  const Graph& graph = *graph_;
  std::vector<Tensor> slots(graph.values.size());
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (graph.values[v].constant) slots[v] = *graph.values[v].constant;
  }
  for (const auto& [name, tensor] : inputs) {
    const ValueId id = graph.find_value(name);
    bool is_input = false;
    for (ValueId input : graph.inputs) is_input |= input == id;
    if (!is_input) return invalid_argument("'", name, "' is not an input of the model");
    KESTREL_RETURN_IF_ERROR(check_input(graph.value(id), tensor));
    slots[static_cast<size_t>(id)] = tensor;
  }
  for (ValueId input : graph.inputs) {
    if (slots[static_cast<size_t>(input)].empty()) {
      return invalid_argument("input '", graph.value(input).name, "' is not given");
    }
  }

  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    std::vector<const Tensor*> node_inputs;
    for (ValueId in : node.inputs) node_inputs.push_back(in == kNoValue ? nullptr : &slots[static_cast<size_t>(in)]);
    KESTREL_ASSIGN_OR_RETURN(std::vector<Tensor> results, run_node(*ops_[n], node, graph.opset, node_inputs));
    for (size_t i = 0; i < node.outputs.size() && i < results.size(); ++i) {
      if (node.outputs[i] != kNoValue) slots[static_cast<size_t>(node.outputs[i])] = std::move(results[i]);
    }
    if (observer) {
      std::vector<const Tensor*> produced;
      for (ValueId out : node.outputs) produced.push_back(out == kNoValue ? nullptr : &slots[static_cast<size_t>(out)]);
      observer(node, produced);
    }
    // Release what no later node reads, to bound memory on large models.
    for (ValueId in : node.inputs) {
      if (in != kNoValue && last_consumer_[static_cast<size_t>(in)] == static_cast<int64_t>(n) &&
          !graph.value(in).constant) {
        slots[static_cast<size_t>(in)] = Tensor();
      }
    }
  }
  std::vector<Tensor> outputs;
  for (ValueId out : graph.outputs) outputs.push_back(slots[static_cast<size_t>(out)]);
  return outputs;
}

}  // namespace kestrel
