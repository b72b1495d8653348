// Chooses the physical layout of every 4-D activation for a backend: nodes
// the backend runs channels-last read and write NHWC, elementwise nodes keep
// whatever layout their inputs have, everything else reads plain NCHW.
// Reorder nodes are inserted only where a layout changes — for ResNet-style
// graphs that is at the graph's input and before the classifier, never
// between consecutive layers.
#pragma once

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

// True when the backend runs this node on NHWC activations.
using NhwcPredicate = bool (*)(const Graph& graph, const Node& node);

Status assign_layouts(Graph& graph, NhwcPredicate runs_nhwc);

// Number of Reorder nodes in the graph (for inspect and tests).
int count_reorders(const Graph& graph);

}  // namespace kestrel
