// Reshape [N,C,H,W] -> [N,g,C/g,H,W], Transpose (0,2,1,3,4), Reshape back to
// [N,C,H,W] (ShuffleNet's channel shuffle) becomes one ChannelShuffle(groups
// g). It is a permutation of each pixel's channels, which its fast kernel
// does channels-last, on float32 and on int8 alike; the three ops it
// replaces are 5-D, so they left the convs' layout twice per block.
#include "kernels/channel_ops.h"
#include "kernels/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

bool is_op(const Node& node, const char* op) {
  return node.domain.empty() && node.op_type == op && node.outputs.size() == 1 && !node.inputs.empty();
}

}  // namespace

Status fuse_channel_shuffle(Graph& graph) {
  const auto consumers = consumers_of(graph);
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t r1 = 0; r1 < graph.nodes.size(); ++r1) {
    const Node& split = graph.nodes[r1];
    if (dead[r1] || !is_op(split, "Reshape")) continue;
    const Shape& x = graph.value(split.inputs[0]).shape;
    const Shape& grouped = graph.value(split.outputs[0]).shape;
    if (x.size() != 4 || grouped.size() != 5 || grouped[0] != x[0] || grouped[1] < 1 ||
        grouped[1] * grouped[2] != x[1] || grouped[3] != x[2] || grouped[4] != x[3]) {
      continue;
    }
    const auto t = only_reader(graph, consumers, split.outputs[0]);
    if (!t || !is_op(graph.nodes[*t], "Transpose")) continue;
    const Node& transpose = graph.nodes[*t];
    if (transpose.attrs.get_ints("perm", {}) != std::vector<int64_t>{0, 2, 1, 3, 4}) continue;
    const auto r2 = only_reader(graph, consumers, transpose.outputs[0]);
    if (!r2 || !is_op(graph.nodes[*r2], "Reshape")) continue;
    Node& merge = graph.nodes[*r2];
    if (graph.value(merge.outputs[0]).shape != x) continue;
    Node shuffle{.name = merge.name,
                 .op_type = kChannelShuffleOp,
                 .domain = std::string(kKestrelDomain),
                 .inputs = {split.inputs[0]},
                 .outputs = merge.outputs};
    shuffle.attrs.set(kGroupsAttr, grouped[1]);
    record_fused(shuffle, split.name);
    record_fused(shuffle, transpose.name);
    merge = std::move(shuffle);
    dead[r1] = 1;
    dead[*t] = 1;
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
