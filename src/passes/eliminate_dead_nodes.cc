#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {

Status eliminate_dead_nodes(Graph& graph) {
  std::vector<int32_t> uses = graph.use_counts();
  std::vector<char> dead(graph.nodes.size(), 0);
  // Backwards, so a chain of dead nodes goes in one sweep.
  for (size_t n = graph.nodes.size(); n-- > 0;) {
    const Node& node = graph.nodes[n];
    bool used = false;
    for (ValueId out : node.outputs) used |= out != kNoValue && uses[static_cast<size_t>(out)] > 0;
    if (used) continue;
    dead[n] = 1;
    for (ValueId in : node.inputs) {
      if (in != kNoValue) --uses[static_cast<size_t>(in)];
    }
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
