// Small graph-editing helpers shared by the passes.
#pragma once

#include <optional>
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

// The index of the single reader of `value` (has_single_consumer), or nullopt.
std::optional<size_t> only_reader(const Graph& graph, const std::vector<std::vector<size_t>>& consumers, ValueId value);

// The other input of a two-input node one of whose inputs is `value`, or kNoValue.
ValueId other_operand(const Node& node, ValueId value);

// The value of a float32 constant with one element, or nullopt.
std::optional<float> scalar_constant(const Graph& graph, ValueId id);

// The axes a Reduce* node reduces (attribute before opset 18, constant input
// since), made non-negative for `rank` and sorted; nullopt when the axes
// input is not a constant int64 tensor.
std::optional<std::vector<int64_t>> reduce_axes(const Graph& graph, const Node& node, int64_t rank);

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
