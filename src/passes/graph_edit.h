// Small graph-editing helpers shared by the passes.
#pragma once

#include <vector>

#include "format/memory_plan.h"
#include "ir/graph.h"

namespace kestrel {

// For each value, the indices of the nodes that read it.
std::vector<std::vector<size_t>> consumers_of(const Graph& graph);

bool is_graph_output(const Graph& graph, ValueId value);

// Rewires every reader of `from` (nodes and graph outputs) to `to`.
void replace_uses(Graph& graph, ValueId from, ValueId to);

// Drops the nodes with dead[i] set, keeping the order of the rest.
void remove_nodes(Graph& graph, const std::vector<char>& dead);

// The constant tensor of a node input, or null when the input is absent or not constant.
const Tensor* constant_input(const Graph& graph, const Node& node, size_t index);

// True when `value` is read by exactly one node and is not a graph output.
bool has_single_consumer(const Graph& graph, const std::vector<std::vector<size_t>>& consumers, ValueId value);

// `base`, or `base_1`, `base_2`, ...: the first name no value has yet.
std::string unique_value_name(const Graph& graph, const std::string& base);

// Adds a constant value named after `base`, unique in the graph.
ValueId add_constant(Graph& graph, const std::string& base, Tensor tensor);

// Appends `name` to the node's "fused_nodes" list (what inspect reports).
void record_fused(Node& node, const std::string& name);

// Removes the values nothing refers to (no node reads or writes them, and
// they are neither a graph input nor an output): the constants a pass
// replaced, such as the float weights of a quantized conv. Every reference
// is renumbered, the plan's per-value offsets too; a value the plan does
// not cover (a constant added after planning, such as packed weights) is
// outside the arena (-1).
void drop_unused_values(Graph& graph, MemoryPlan& plan);

}  // namespace kestrel
