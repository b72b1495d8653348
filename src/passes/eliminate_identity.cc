#include <algorithm>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

// Pad by zero everywhere (exporters write it before an AveragePool that
// counts padding, even when there is none).
bool is_zero_pad(const Graph& graph, const Node& node) {
  if (node.op_type != "Pad" || node.outputs.size() != 1) return false;
  if (graph.opset < 11) {
    const auto pads = node.attrs.get_ints("pads");
    return std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
  }
  const Tensor* pads = node.inputs.size() > 1 ? constant_input(graph, node, 1) : nullptr;
  if (pads == nullptr || pads->dtype() != DType::kInt64) return false;
  const int64_t* values = pads->data<int64_t>();
  return std::all_of(values, values + pads->size(), [](int64_t p) { return p == 0; });
}

bool is_passthrough(const Graph& graph, const Node& node) {
  if (node.op_type == "Identity" || is_zero_pad(graph, node)) return true;
  // Inference-mode Dropout whose mask output is unused.
  return node.op_type == "Dropout" && (node.outputs.size() < 2 || node.outputs[1] == kNoValue) &&
         (node.inputs.size() < 3 || node.inputs[2] == kNoValue);
}

}  // namespace

Status eliminate_identity(Graph& graph) {
  std::vector<char> dead(graph.nodes.size(), 0);
  const auto producers = graph.producers();
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    if (!node.domain.empty() || !is_passthrough(graph, node) || node.inputs.empty() || node.inputs[0] == kNoValue)
      continue;
    const ValueId in = node.inputs[0];
    const ValueId out = node.outputs[0];
    if (!is_graph_output(graph, out)) {
      replace_uses(graph, out, in);
    } else if (producers[static_cast<size_t>(in)] >= 0 && !is_graph_output(graph, in)) {
      // Keep the output's name: the producer writes it directly.
      for (ValueId& produced : graph.nodes[static_cast<size_t>(producers[static_cast<size_t>(in)])].outputs) {
        if (produced == in) produced = out;
      }
      for (size_t m = 0; m < graph.nodes.size(); ++m) {
        if (m == n) continue;
        std::replace(graph.nodes[m].inputs.begin(), graph.nodes[m].inputs.end(), in, out);
      }
    } else {
      continue;  // an input or constant passed straight to an output: keep the copy
    }
    dead[n] = 1;
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
