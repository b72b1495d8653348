#include "passes/graph_edit.h"

#include <algorithm>

namespace kestrel {

std::vector<std::vector<size_t>> consumers_of(const Graph& graph) {
  std::vector<std::vector<size_t>> consumers(graph.values.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (ValueId in : graph.nodes[n].inputs) {
      if (in != kNoValue) consumers[static_cast<size_t>(in)].push_back(n);
    }
  }
  return consumers;
}

bool is_graph_output(const Graph& graph, ValueId value) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), value) != graph.outputs.end();
}

void replace_uses(Graph& graph, ValueId from, ValueId to) {
  for (Node& node : graph.nodes) std::replace(node.inputs.begin(), node.inputs.end(), from, to);
  std::replace(graph.outputs.begin(), graph.outputs.end(), from, to);
}

void remove_nodes(Graph& graph, const std::vector<char>& dead) {
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (!dead[n]) kept.push_back(std::move(graph.nodes[n]));
  }
  graph.nodes = std::move(kept);
}

const Tensor* constant_input(const Graph& graph, const Node& node, size_t index) {
  if (index >= node.inputs.size() || node.inputs[index] == kNoValue) return nullptr;
  const Value& value = graph.value(node.inputs[index]);
  return value.constant ? &*value.constant : nullptr;
}

bool has_single_consumer(const Graph& graph, const std::vector<std::vector<size_t>>& consumers, ValueId value) {
  return consumers[static_cast<size_t>(value)].size() == 1 && !is_graph_output(graph, value);
}

std::optional<size_t> only_reader(const Graph& graph, const std::vector<std::vector<size_t>>& consumers,
                                  ValueId value) {
  if (!has_single_consumer(graph, consumers, value)) return std::nullopt;
  return consumers[static_cast<size_t>(value)][0];
}

ValueId other_operand(const Node& node, ValueId value) {
  if (node.inputs.size() != 2) return kNoValue;
  if (node.inputs[0] == value) return node.inputs[1];
  if (node.inputs[1] == value) return node.inputs[0];
  return kNoValue;
}

std::optional<float> scalar_constant(const Graph& graph, ValueId id) {
  if (id == kNoValue) return std::nullopt;
  const Value& value = graph.value(id);
  if (!value.constant || value.dtype != DType::kFloat32 || value.constant->size() != 1) return std::nullopt;
  return value.constant->data<float>()[0];
}

std::optional<std::vector<int64_t>> reduce_axes(const Graph& graph, const Node& node, int64_t rank) {
  std::vector<int64_t> axes = node.attrs.get_ints("axes", {});
  if (node.inputs.size() > 1 && node.inputs[1] != kNoValue) {
    const Tensor* given = constant_input(graph, node, 1);
    if (given == nullptr || given->dtype() != DType::kInt64) return std::nullopt;
    axes.assign(given->data<int64_t>(), given->data<int64_t>() + given->size());
  }
  for (int64_t& axis : axes) axis = axis < 0 ? axis + rank : axis;
  std::sort(axes.begin(), axes.end());
  return axes;
}

std::string unique_value_name(const Graph& graph, const std::string& base) {
  std::string name = base;
  for (int suffix = 1; graph.find_value(name) != kNoValue; ++suffix) name = base + "_" + std::to_string(suffix);
  return name;
}

ValueId add_constant(Graph& graph, const std::string& base, Tensor tensor) {
  Value value{
      .name = unique_value_name(graph, base), .dtype = tensor.dtype(), .shape = tensor.shape(), .shape_known = true};
  value.constant = std::move(tensor);
  return graph.add_value(std::move(value));
}

void record_fused(Node& node, const std::string& name) {
  std::vector<std::string> fused;
  auto it = node.attrs.all().find("fused_nodes");
  if (it != node.attrs.all().end()) fused = std::get<std::vector<std::string>>(it->second);
  fused.push_back(name);
  node.attrs.set("fused_nodes", fused);
}

void drop_unused_values(Graph& graph, MemoryPlan& plan) {
  plan.value_offsets.resize(graph.values.size(), -1);
  std::vector<char> used(graph.values.size(), 0);
  auto mark = [&](ValueId id) {
    if (id != kNoValue) used[static_cast<size_t>(id)] = 1;
  };
  for (const Node& node : graph.nodes) {
    for (ValueId id : node.inputs) mark(id);
    for (ValueId id : node.outputs) mark(id);
  }
  for (ValueId id : graph.inputs) mark(id);
  for (ValueId id : graph.outputs) mark(id);
  if (std::find(used.begin(), used.end(), 0) == used.end()) return;

  std::vector<ValueId> new_id(graph.values.size(), kNoValue);
  Graph kept;
  kept.name = std::move(graph.name);
  kept.opset = graph.opset;
  std::vector<int64_t> offsets;
  for (size_t id = 0; id < graph.values.size(); ++id) {
    if (!used[id]) continue;
    new_id[id] = kept.add_value(std::move(graph.values[id]));
    offsets.push_back(plan.value_offsets[id]);
  }
  auto renumber = [&](std::vector<ValueId>& ids) {
    for (ValueId& id : ids) {
      if (id != kNoValue) id = new_id[static_cast<size_t>(id)];
    }
  };
  kept.nodes = std::move(graph.nodes);
  for (Node& node : kept.nodes) {
    renumber(node.inputs);
    renumber(node.outputs);
  }
  kept.inputs = std::move(graph.inputs);
  kept.outputs = std::move(graph.outputs);
  renumber(kept.inputs);
  renumber(kept.outputs);
  graph = std::move(kept);
  plan.value_offsets = std::move(offsets);
}

}  // namespace kestrel
