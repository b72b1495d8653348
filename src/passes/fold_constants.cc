#include "kernels/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

// Folding must not blow up the model file (e.g. ConstantOfShape of a huge shape).
constexpr int64_t kMaxFoldedElements = int64_t{16} << 20;

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
    if (!all_constant) continue;
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
