// Multiply-accumulate counts of the compute-heavy ops, for `inspect` and for
// reporting achieved GFLOP/s. Ops not in the table count as 0 MACs.
#pragma once

#include <cstdint>

#include "ir/graph.h"

namespace kestrel {

// Requires inferred shapes.
int64_t node_macs(const Graph& graph, const Node& node);

}  // namespace kestrel
