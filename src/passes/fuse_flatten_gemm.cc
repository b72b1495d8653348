#include "passes/fuse_common.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {

Status fuse_flatten_gemm(Graph& graph) {
  const auto producers = graph.producers();
  const auto consumers = consumers_of(graph);
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& gemm = graph.nodes[n];
    if (!(gemm.op_type == "Gemm" && gemm.domain.empty()) || gemm.attrs.get_int("transA", 0) != 0) continue;
    const ValueId flat = gemm.inputs[0];
    const int64_t p = producers[static_cast<size_t>(flat)];
    if (p < 0 || dead[p] || graph.nodes[p].op_type != "Flatten" || !graph.nodes[p].domain.empty() ||
        !has_single_consumer(graph, consumers, flat)) {
      continue;
    }
    const Node& flatten = graph.nodes[p];
    const ValueId source = flatten.inputs[0];
    int64_t axis = flatten.attrs.get_int("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(graph.value(source).shape.size());
    if (graph.value(source).dtype != DType::kFloat32) continue;
    make_fused(gemm);
    gemm.inputs[0] = source;
    gemm.attrs.set("flatten_axis", axis);
    record_fused(gemm, flatten.name);
    dead[p] = 1;
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
