#include "planner/memory_planner.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "base/checked_math.h"

#include "kernels/op_registry.h"
#include "passes/graph_edit.h"

namespace kestrel {
namespace {

// One arena slot: the values sharing it (a fused conv's output shares its
// Sum input's slot; a Reshape's output its input's), and the node range
// during which it is live.
struct Interval {
  std::vector<ValueId> values;
  int64_t bytes;
  size_t first;  // index of the producing node
  size_t last;   // index of the last node reading it
};

// Sizes beyond this are refused, so that an offset (at most this) plus a size
// (at most this plus the alignment) always fits in int64.
constexpr int64_t kMaxPlannedBytes = int64_t{1} << 61;

int64_t aligned(int64_t bytes) { return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

bool in_arena(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  if (value.constant || is_graph_output(graph, id)) return false;
  return std::find(graph.inputs.begin(), graph.inputs.end(), id) == graph.inputs.end();
}

// The aligned byte size, or kOverflowBytes when it does not fit the planner's range.
constexpr int64_t kOverflowBytes = -1;

int64_t value_bytes(const Value& value) {
  const auto elements = checked_element_count(value.shape);
  const auto bytes = elements ? checked_bytes(*elements, static_cast<int64_t>(dtype_size(value.dtype))) : std::nullopt;
  if (!bytes || *bytes > kMaxPlannedBytes) return kOverflowBytes;
  return aligned(*bytes);
}

std::vector<int64_t> last_readers(const Graph& graph) {
  std::vector<int64_t> last(graph.values.size(), -1);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (ValueId in : graph.nodes[n].inputs) {
      if (in != kNoValue) last[static_cast<size_t>(in)] = static_cast<int64_t>(n);
    }
  }
  return last;
}

// The slot of the Sum input the node's output may take over, or -1.
int64_t shared_sum_slot(const Graph& graph, size_t n, const std::vector<int64_t>& slot,
                        const std::vector<int64_t>& last, SumInPlacePredicate sum_in_place) {
  const Node& node = graph.nodes[n];
  if (sum_in_place == nullptr || node.inputs.size() < 4 || node.inputs[3] == kNoValue || node.outputs.size() != 1 ||
      !sum_in_place(graph, node)) {
    return -1;
  }
  const ValueId sum = node.inputs[3];
  const ValueId out = node.outputs[0];
  const bool read_elsewhere = std::count(node.inputs.begin(), node.inputs.end(), sum) != 1;
  if (read_elsewhere || last[static_cast<size_t>(sum)] != static_cast<int64_t>(n) || !in_arena(graph, out) ||
      value_bytes(graph.value(sum)) != value_bytes(graph.value(out))) {
    return -1;
  }
  return slot[static_cast<size_t>(sum)];
}

// The slot of the input a Reshape, Flatten, Squeeze, Unsqueeze or LayoutView reads, which
// its output (the same bytes) may take over when that is the input's last
// use: the kernel then copies nothing (it skips a copy onto itself). -1 otherwise.
int64_t shared_reshape_slot(const Graph& graph, size_t n, const std::vector<int64_t>& slot,
                            const std::vector<int64_t>& last) {
  const Node& node = graph.nodes[n];
  const bool reshape = node.domain.empty() && (node.op_type == "Reshape" || node.op_type == "Flatten" ||
                                               node.op_type == "Squeeze" || node.op_type == "Unsqueeze");
  const bool view = node.domain == kKestrelDomain && node.op_type == "LayoutView";  // bytes as they are
  if (!(reshape || view) || node.inputs.empty() || node.inputs[0] == kNoValue || node.outputs.size() != 1) return -1;
  const ValueId in = node.inputs[0], out = node.outputs[0];
  if (slot[static_cast<size_t>(in)] < 0 || !in_arena(graph, out) || last[static_cast<size_t>(in)] != int64_t(n) ||
      std::count(node.inputs.begin(), node.inputs.end(), in) != 1 ||
      (!view && graph.value(in).layout != graph.value(out).layout) ||
      value_bytes(graph.value(in)) != value_bytes(graph.value(out))) {
    return -1;
  }
  return slot[static_cast<size_t>(in)];
}

std::vector<Interval> live_intervals(const Graph& graph, SumInPlacePredicate sum_in_place) {
  std::vector<Interval> intervals;
  std::vector<int64_t> slot(graph.values.size(), -1);
  const std::vector<int64_t> last = last_readers(graph);
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (ValueId in : graph.nodes[n].inputs) {
      if (in != kNoValue && slot[static_cast<size_t>(in)] >= 0)
        intervals[static_cast<size_t>(slot[static_cast<size_t>(in)])].last = n;
    }
    int64_t shared = shared_sum_slot(graph, n, slot, last, sum_in_place);
    if (shared < 0) shared = shared_reshape_slot(graph, n, slot, last);
    for (ValueId out : graph.nodes[n].outputs) {
      if (out == kNoValue || !in_arena(graph, out)) continue;
      if (shared >= 0) {
        slot[static_cast<size_t>(out)] = shared;
        intervals[static_cast<size_t>(shared)].values.push_back(out);
        continue;
      }
      slot[static_cast<size_t>(out)] = static_cast<int64_t>(intervals.size());
      intervals.push_back({{out}, value_bytes(graph.value(out)), n, n});
    }
  }
  return intervals;
}

}  // namespace

StatusOr<MemoryPlan> plan_memory(const Graph& graph, SumInPlacePredicate sum_in_place) {
  for (const Value& value : graph.values) {
    if (!value.name.empty() && value.shape_known) {
      for (int64_t dim : value.shape) {
        if (dim < 0)
          return invalid_argument("value '", value.name, "' has a dynamic shape; plan after shape inference");
      }
    }
  }
  std::vector<Interval> intervals = live_intervals(graph, sum_in_place);
  for (const Interval& interval : intervals) {
    if (interval.bytes == kOverflowBytes) {
      const Value& value = graph.value(interval.values[0]);
      return invalid_argument("value '", value.name, "' ", shape_string(value.shape), " of ", dtype_name(value.dtype),
                              " needs more bytes than the memory planner can place (", kMaxPlannedBytes, ")");
    }
  }
  // Greedy by size: the largest tensors are placed first, each at the lowest
  // offset that fits between the already placed ones whose lifetimes overlap.
  std::vector<size_t> order(intervals.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return intervals[a].bytes > intervals[b].bytes; });

  MemoryPlan plan;
  plan.value_offsets.assign(graph.values.size(), -1);
  std::vector<size_t> placed;
  for (size_t index : order) {
    const Interval& current = intervals[index];
    std::vector<std::pair<int64_t, int64_t>> busy;  // [offset, end) of overlapping lifetimes
    for (size_t other : placed) {
      const Interval& o = intervals[other];
      if (o.first <= current.last && current.first <= o.last) {
        const int64_t offset = plan.value_offsets[static_cast<size_t>(o.values[0])];
        busy.emplace_back(offset, offset + o.bytes);
      }
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [start, end] : busy) {
      if (offset + current.bytes <= start) break;
      offset = std::max(offset, end);
    }
    const auto end = checked_add(offset, current.bytes);
    if (!end || *end > kMaxPlannedBytes) {
      return invalid_argument("the activation arena would exceed ", kMaxPlannedBytes, " bytes while placing value '",
                              graph.value(current.values[0]).name, "'");
    }
    for (ValueId value : current.values) plan.value_offsets[static_cast<size_t>(value)] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, *end);
    placed.push_back(index);
  }
  return plan;
}

int64_t total_activation_bytes(const Graph& graph) {
  int64_t total = 0;
  for (const Interval& interval : live_intervals(graph, nullptr)) {
    const auto sum = interval.bytes == kOverflowBytes ? std::nullopt : checked_add(total, interval.bytes);
    if (!sum) return std::numeric_limits<int64_t>::max();
    total = *sum;
  }
  return total;
}

}  // namespace kestrel
