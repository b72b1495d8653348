#include "passes/fuse_common.h"

#include "kernels/op_registry.h"
#include "passes/graph_edit.h"

namespace kestrel {

bool is_fusable_producer(const Graph& graph, const Node& node) {
  const bool onnx = node.domain.empty() && (node.op_type == "Conv" || node.op_type == "Gemm");
  const bool fused = node.domain == kKestrelDomain && (node.op_type == "FusedConv" || node.op_type == "FusedGemm");
  return (onnx || fused) && node.outputs.size() == 1 && graph.value(node.outputs[0]).dtype == DType::kFloat32;
}

bool has_fused_activation(const Node& node) { return node.attrs.has("activation"); }

bool has_fused_sum(const Node& node) { return node.inputs.size() > 3 && node.inputs[3] != kNoValue; }

void make_fused(Node& node) {
  if (node.domain == kKestrelDomain) return;
  node.domain = std::string(kKestrelDomain);
  node.op_type = node.op_type == "Conv" ? "FusedConv" : "FusedGemm";
}

void take_over(Graph& graph, size_t producer, size_t consumer, std::vector<char>& dead) {
  Node fused = std::move(graph.nodes[producer]);
  record_fused(fused, graph.nodes[consumer].name);
  fused.outputs = graph.nodes[consumer].outputs;
  graph.nodes[consumer] = std::move(fused);
  graph.nodes[producer] = Node{.name = "(fused)"};
  dead[producer] = 1;
}

}  // namespace kestrel
