#include "planner/memory_planner.h"

#include <algorithm>

#include "passes/graph_edit.h"

namespace kestrel {
namespace {

struct Interval {
  ValueId value;
  int64_t bytes;
  size_t first;  // index of the producing node
  size_t last;   // index of the last node reading it
};

int64_t aligned(int64_t bytes) { return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

bool in_arena(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  if (value.constant || is_graph_output(graph, id)) return false;
  return std::find(graph.inputs.begin(), graph.inputs.end(), id) == graph.inputs.end();
}

std::vector<Interval> live_intervals(const Graph& graph) {
  std::vector<Interval> intervals;
  std::vector<int64_t> slot(graph.values.size(), -1);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (ValueId out : graph.nodes[n].outputs) {
      if (out == kNoValue || !in_arena(graph, out)) continue;
      const Value& value = graph.value(out);
      slot[static_cast<size_t>(out)] = static_cast<int64_t>(intervals.size());
      intervals.push_back({out, aligned(shape_size(value.shape) * static_cast<int64_t>(dtype_size(value.dtype))), n, n});
    }
    for (ValueId in : graph.nodes[n].inputs) {
      if (in != kNoValue && slot[static_cast<size_t>(in)] >= 0) intervals[static_cast<size_t>(slot[static_cast<size_t>(in)])].last = n;
    }
  }
  return intervals;
}

}  // namespace

StatusOr<MemoryPlan> plan_memory(const Graph& graph) {
  for (const Value& value : graph.values) {
    if (!value.name.empty() && value.shape_known) {
      for (int64_t dim : value.shape) {
        if (dim < 0) return invalid_argument("value '", value.name, "' has a dynamic shape; plan after shape inference");
      }
    }
  }
  std::vector<Interval> intervals = live_intervals(graph);
  // Greedy by size: the largest tensors are placed first, each at the lowest
  // offset that fits between the already placed ones whose lifetimes overlap.
  std::vector<size_t> order(intervals.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return intervals[a].bytes > intervals[b].bytes; });

  MemoryPlan plan;
  plan.value_offsets.assign(graph.values.size(), -1);
  std::vector<size_t> placed;
  for (size_t index : order) {
    const Interval& current = intervals[index];
    std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of overlapping lifetimes
    for (size_t other : placed) {
      const Interval& o = intervals[other];
      if (o.first <= current.last && current.first <= o.last) {
        const int64_t offset = plan.value_offsets[static_cast<size_t>(o.value)];
        busy.emplace_back(offset, offset + o.bytes);
      }
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [start, end] : busy) {
      if (offset + current.bytes <= start) break;
      offset = std::max(offset, end);
    }
    plan.value_offsets[static_cast<size_t>(current.value)] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + current.bytes);
    placed.push_back(index);
  }
  return plan;
}

int64_t total_activation_bytes(const Graph& graph) {
  int64_t total = 0;
  for (const Interval& interval : live_intervals(graph)) total += interval.bytes;
  return total;
}

}  // namespace kestrel
