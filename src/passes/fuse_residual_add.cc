// Add(Conv(x), y) -> FusedConv(x, W, B, Sum=y): the residual connection is
// accumulated into the conv's output (oneDNN's sum post-op), so the Add never
// reads or writes a tensor of its own.
#include "passes/fuse_common.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {

Status fuse_residual_add(Graph& graph) {
  const auto producers = graph.producers();
  const auto consumers = consumers_of(graph);
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& add = graph.nodes[n];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) continue;
    const Shape& out_shape = graph.value(add.outputs[0]).shape;
    for (size_t side = 0; side < 2; ++side) {
      const ValueId conv_out = add.inputs[side];
      const ValueId other = add.inputs[1 - side];
      const int64_t p = producers[static_cast<size_t>(conv_out)];
      if (p < 0 || dead[p] || conv_out == other) continue;
      const Node& conv = graph.nodes[p];
      const bool is_conv = conv.op_type == "Conv" || conv.op_type == "FusedConv";
      if (!is_conv || !is_fusable_producer(graph, conv) || has_fused_activation(conv) || has_fused_sum(conv) ||
          !has_single_consumer(graph, consumers, conv_out) || graph.value(conv_out).shape != out_shape ||
          graph.value(other).shape != out_shape || graph.value(other).dtype != DType::kFloat32) {
        continue;
      }
      Node& producer = graph.nodes[p];
      make_fused(producer);
      producer.inputs.resize(4, kNoValue);
      producer.inputs[3] = other;
      take_over(graph, static_cast<size_t>(p), n, dead);
      break;
    }
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
