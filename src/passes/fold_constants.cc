#include <optional>

#include "kernels/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

// Folding must not blow up the model file (e.g. ConstantOfShape of a huge shape).
constexpr int64_t kMaxFoldedElements = int64_t{16} << 20;

// The outputs a shape function computes from its inputs' shapes alone (Shape
// of a tensor whose shape is known), or nullopt. The graph is compiled for
// the shapes inference fixed, so such a value is a constant.
std::optional<std::vector<Tensor>> values_known_from_shapes(const Graph& graph, const OpDef& def, const Node& node,
                                                            const std::vector<const Tensor*>& inputs) {
  std::vector<TensorInfo> infos(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i] == kNoValue) continue;
    const Value& value = graph.value(node.inputs[i]);
    if (!value.shape_known) return std::nullopt;
    infos[i] = {value.dtype, value.shape, inputs[i]};
  }
  InferContext ctx(node, graph.opset, std::move(infos));
  if (!def.infer(ctx).ok()) return std::nullopt;
  std::vector<Tensor> values;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] == kNoValue) continue;
    if (i >= ctx.outputs().size() || !ctx.outputs()[i].data) return std::nullopt;
    values.push_back(*ctx.outputs()[i].data);
  }
  return values;
}

}  // namespace

Status fold_constants(Graph& graph) {
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    const OpDef* def = OpRegistry::global().find(node);
    if (def == nullptr) continue;
    std::vector<const Tensor*> inputs;
    bool all_constant = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor* tensor = constant_input(graph, node, i);
      all_constant &= node.inputs[i] == kNoValue || tensor != nullptr;
      inputs.push_back(tensor);
    }
    if (!all_constant) {
      // Shape arithmetic on known shapes (Shape -> Gather -> Div -> Concat ->
      // Reshape, as exporters write a dynamic batch) folds from here on.
      if (auto values = values_known_from_shapes(graph, *def, node, inputs)) {
        size_t next = 0;
        for (ValueId out : node.outputs) {
          if (out != kNoValue) graph.value(out).constant = std::move((*values)[next++]);
        }
        dead[n] = 1;
      }
      continue;
    }
    bool small = true;
    for (ValueId out : node.outputs) {
      small &= out == kNoValue || shape_size(graph.value(out).shape) <= kMaxFoldedElements;
    }
    if (!small) continue;
    KESTREL_ASSIGN_OR_RETURN(std::vector<Tensor> results, run_node(*def, node, graph.opset, inputs));
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] != kNoValue) graph.value(node.outputs[i]).constant = std::move(results[i]);
    }
    dead[n] = 1;
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
