// ReduceMean over H and W of a 4-D activation (ShuffleNet's and ConvNeXt's
// head, `x.mean([2, 3])` in PyTorch) becomes GlobalAveragePool, followed by
// Flatten when keepdims is 0 (fuse_flatten_gemm then folds that into the
// classifier). The pool reads channels-last; the ReduceMean it replaces ran
// on the reference kernel and needed its input reordered to NCHW.
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

bool is_spatial_mean(const Graph& graph, const Node& node) {
  if (!node.domain.empty() || node.op_type != "ReduceMean" || node.outputs.size() != 1 || node.inputs.empty())
    return false;
  const Value& x = graph.value(node.inputs[0]);
  if (x.constant || x.dtype != DType::kFloat32 || x.shape.size() != 4) return false;
  if (node.attrs.get_int("noop_with_empty_axes", 0) != 0) return false;
  return reduce_axes(graph, node, 4) == std::vector<int64_t>{2, 3};
}

}  // namespace

Status global_average_pool(Graph& graph) {
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size());
  for (Node& node : graph.nodes) {
    if (!is_spatial_mean(graph, node)) {
      nodes.push_back(std::move(node));
      continue;
    }
    const ValueId x = node.inputs[0], y = node.outputs[0];
    const Shape in = graph.value(x).shape;  // add_value below may move the values
    if (node.attrs.get_int("keepdims", 1) != 0) {
      nodes.push_back(Node{.name = node.name, .op_type = "GlobalAveragePool", .inputs = {x}, .outputs = {y}});
      continue;
    }
    const ValueId pooled = graph.add_value(Value{.name = unique_value_name(graph, graph.value(y).name + "/pooled"),
                                                 .dtype = DType::kFloat32,
                                                 .shape = {in[0], in[1], 1, 1},
                                                 .shape_known = true});
    nodes.push_back(Node{.name = node.name, .op_type = "GlobalAveragePool", .inputs = {x}, .outputs = {pooled}});
    Node flatten{.name = node.name + "/flatten", .op_type = "Flatten", .inputs = {pooled}, .outputs = {y}};
    flatten.attrs.set("axis", int64_t{1});
    nodes.push_back(std::move(flatten));
  }
  graph.nodes = std::move(nodes);
  return {};
}

}  // namespace kestrel
