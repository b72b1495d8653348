// What a session checks in a graph before it prepares anything: the graph
// may come from a model file, whose every field is untrusted even when its
// checksum is right (the checksum detects accidents, not tampering). The
// reader proved the file well-formed (indices, sizes, blob ranges); these
// checks prove that it makes sense for the ops and kernels that will run it.
#pragma once

#include <unordered_map>
#include <vector>

#include <cstdint>

#include "base/status.h"
#include "format/memory_plan.h"
#include "ir/graph.h"
#include "kernels/op_registry.h"

namespace kestrel {

// Every value a node reads or writes has a static shape whose byte size
// fits int64, and the graph's inputs and outputs together take at most
// `max_io_bytes`.
Status check_static_values(const Graph& graph, int64_t max_io_bytes);

// Every node's attributes are ones its op takes (op_attributes.h), and
// re-running each op's shape function on the stored input types gives the
// stored output dtypes and shapes: a tampered attribute value, shape or
// dtype is an error naming the node and the value.
Status check_node_types(const Graph& graph);

// Runs the op's shape function on the node's stored input types, with the
// contents of constants and of `known` values (those shape functions computed,
// such as Shape's); one entry per node output. Unsupported ops and an op that
// gives fewer outputs than the node has are errors naming the node.
StatusOr<std::vector<InferContext::Output>> infer_node_outputs(const Graph& graph, const Node& node,
                                                               const std::unordered_map<ValueId, Tensor>& known);

// The arena is at most `max_arena_bytes`, and no two values that are live
// at the same node (from their producer to their last reader) share bytes,
// except a fused conv's output taking over its Sum input's bytes as the
// planner allows it (cpu_sums_in_place, the Sum's last read, same size and
// offset).
Status check_memory_plan(const Graph& graph, const MemoryPlan& plan, int64_t max_arena_bytes);

}  // namespace kestrel
