#include "runtime/graph_checks.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>

#include "base/checked_math.h"
#include "kernels/op_registry.h"
#include "planner/arena_limit.h"  // header-only, base-only (see session.cc)
#include "runtime/cpu_backend.h"
#include "runtime/op_attributes.h"

namespace kestrel {
namespace {

std::optional<int64_t> value_bytes(const Value& value) {
  if (!value.shape_known) return std::nullopt;
  const std::optional<int64_t> elements = checked_element_count(value.shape);
  if (!elements) return std::nullopt;
  return checked_bytes(*elements, static_cast<int64_t>(dtype_size(value.dtype)));
}

std::string value_label(const Graph& graph, ValueId id) {
  return str_cat("value #", id, " '", graph.value(id).name, "'");
}

bool is_graph_io(const Graph& graph, ValueId id) {
  return std::find(graph.inputs.begin(), graph.inputs.end(), id) != graph.inputs.end() ||
         std::find(graph.outputs.begin(), graph.outputs.end(), id) != graph.outputs.end();
}

Status check_value_size(const Graph& graph, ValueId id, const std::string& who) {
  const Value& value = graph.value(id);
  if (dtype_size(value.dtype) == 0) {
    return invalid_argument(who, ": ", value_label(graph, id), " has dtype ", dtype_name(value.dtype),
                            ", which has no fixed size");
  }
  if (!value_bytes(value)) {
    return invalid_argument(who, ": ", value_label(graph, id), " needs a static shape whose size fits, has ",
                            value.shape_known ? shape_string(value.shape) : std::string("an unknown shape"));
  }
  return {};
}

// Compares what the op's shape function gives with what the graph stores.
Status compare_output(const Graph& graph, const Node& node, ValueId id, const InferContext::Output& inferred) {
  const Value& stored = graph.value(id);
  if (inferred.dtype != stored.dtype) {
    return invalid_argument(node.label(), ": output ", value_label(graph, id), " is stored as ",
                            dtype_name(stored.dtype), " but the op gives ", dtype_name(inferred.dtype));
  }
  bool same = inferred.shape.size() == stored.shape.size();
  for (size_t i = 0; same && i < inferred.shape.size(); ++i) {
    same = inferred.shape[i] < 0 || inferred.shape[i] == stored.shape[i];  // -1: the op cannot tell
  }
  if (!same) {
    return invalid_argument(node.label(), ": output ", value_label(graph, id), " is stored with shape ",
                            shape_string(stored.shape), " but the op gives ", shape_string(inferred.shape));
  }
  return {};
}

// The node index that produces each value (-1: none), and the last that reads it.
struct Lifetimes {
  std::vector<int64_t> first, last;
};

Lifetimes lifetimes(const Graph& graph) {
  Lifetimes life{std::vector<int64_t>(graph.values.size(), -1), std::vector<int64_t>(graph.values.size(), -1)};
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (ValueId in : graph.nodes[n].inputs) {
      if (in != kNoValue) life.last[static_cast<size_t>(in)] = static_cast<int64_t>(n);
    }
    for (ValueId out : graph.nodes[n].outputs) {
      if (out != kNoValue && life.first[static_cast<size_t>(out)] < 0) {
        life.first[static_cast<size_t>(out)] = static_cast<int64_t>(n);
      }
    }
  }
  return life;
}

struct ArenaEntry {
  ValueId id;
  int64_t offset, end;
  int64_t first, last;  // node range during which the value is live
};

// The planner's one exception (src/planner/memory_planner.cc,
// shared_sum_slot): node `n` writes `out` into the bytes of its Sum input
// `sum`, which no later node reads.
bool sums_in_place(const Graph& graph, const Lifetimes& life, const ArenaEntry& sum, const ArenaEntry& out) {
  if (out.first < 0 || sum.last != out.first || sum.offset != out.offset || sum.end != out.end) return false;
  const Node& node = graph.nodes[static_cast<size_t>(out.first)];
  constexpr size_t kSumInput = 3;
  if (node.inputs.size() <= kSumInput || node.inputs[kSumInput] != sum.id || node.outputs.size() != 1 ||
      node.outputs[0] != out.id) {
    return false;
  }
  return std::count(node.inputs.begin(), node.inputs.end(), sum.id) == 1 && cpu_sums_in_place(graph, node);
}

// The planner's other exception (shared_reshape_slot): a Reshape, Flatten,
// Squeeze, Unsqueeze or LayoutView writes `out` over its input `in` (the same bytes; the
// kernel skips the copy), which no later node reads.
bool reshapes_in_place(const Graph& graph, const ArenaEntry& in, const ArenaEntry& out) {
  if (out.first < 0 || in.last != out.first || in.offset != out.offset || in.end != out.end) return false;
  const Node& node = graph.nodes[static_cast<size_t>(out.first)];
  const bool reshape = node.domain.empty() && (node.op_type == "Reshape" || node.op_type == "Flatten" ||
                                               node.op_type == "Squeeze" || node.op_type == "Unsqueeze");
  const bool view = node.domain == kKestrelDomain && node.op_type == "LayoutView";
  return (reshape || view) && !node.inputs.empty() && node.inputs[0] == in.id && node.outputs.size() == 1 &&
         node.outputs[0] == out.id && std::count(node.inputs.begin(), node.inputs.end(), in.id) == 1 &&
         (view || graph.value(in.id).layout == graph.value(out.id).layout);
}

std::vector<ArenaEntry> arena_entries(const Graph& graph, const MemoryPlan& plan, const Lifetimes& life) {
  std::vector<ArenaEntry> entries;
  for (size_t v = 0; v < graph.values.size(); ++v) {
    const ValueId id = static_cast<ValueId>(v);
    const Value& value = graph.values[v];
    // The session binds only these to the arena (graph inputs, outputs and constants have their own memory).
    if (plan.value_offsets[v] < 0 || value.constant || is_graph_io(graph, id) || life.first[v] < 0) continue;
    const int64_t offset = plan.value_offsets[v];
    const int64_t end = checked_add(offset, value_bytes(value).value_or(0)).value_or(INT64_MAX);
    entries.push_back({id, offset, end, life.first[v], std::max(life.first[v], life.last[v])});
  }
  std::sort(entries.begin(), entries.end(),
            [](const ArenaEntry& a, const ArenaEntry& b) { return a.offset < b.offset; });
  return entries;
}

}  // namespace

Status check_static_values(const Graph& graph, int64_t max_io_bytes) {
  for (const Node& node : graph.nodes) {
    for (ValueId id : node.inputs) {
      if (id != kNoValue) KESTREL_RETURN_IF_ERROR(check_value_size(graph, id, node.label()));
    }
    for (ValueId id : node.outputs) {
      if (id != kNoValue) KESTREL_RETURN_IF_ERROR(check_value_size(graph, id, node.label()));
    }
  }
  int64_t io_bytes = 0;
  for (const std::vector<ValueId>* ids : {&graph.inputs, &graph.outputs}) {
    for (ValueId id : *ids) {
      KESTREL_RETURN_IF_ERROR(check_value_size(graph, id, "graph input/output"));
      const std::optional<int64_t> total = checked_add(io_bytes, *value_bytes(graph.value(id)));
      if (!total || *total > max_io_bytes) {
        return invalid_argument("the graph's inputs and outputs take more than ", max_io_bytes, " bytes (at ",
                                value_label(graph, id), ", ", shape_string(graph.value(id).shape), ")");
      }
      io_bytes = *total;
    }
  }
  return {};
}

StatusOr<std::vector<InferContext::Output>> infer_node_outputs(const Graph& graph, const Node& node,
                                                               const std::unordered_map<ValueId, Tensor>& known) {
  const OpDef* def = OpRegistry::global().find(node);
  if (def == nullptr || def->infer == nullptr) return unimplemented(node.label(), ": op is not supported");
  std::vector<TensorInfo> infos(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const ValueId id = node.inputs[i];
    if (id == kNoValue) continue;
    const Value& value = graph.value(id);
    const Tensor* data = value.constant ? &*value.constant : nullptr;
    if (auto it = known.find(id); data == nullptr && it != known.end()) data = &it->second;
    infos[i] = {value.dtype, value.shape, data};
  }
  InferContext ctx(node, graph.opset, std::move(infos));
  KESTREL_RETURN_IF_ERROR(def->infer(ctx));
  if (ctx.outputs().size() < node.outputs.size()) {
    return invalid_argument(node.label(), ": has ", node.outputs.size(), " outputs, the op gives ",
                            ctx.outputs().size());
  }
  return ctx.outputs();
}

Status check_node_types(const Graph& graph) {
  // Values whose contents the shape functions may read: constants, and
  // those the shape functions computed themselves (Shape, Constant).
  std::unordered_map<ValueId, Tensor> known;
  for (const Node& node : graph.nodes) {
    KESTREL_RETURN_IF_ERROR(check_node_attributes(node));
    // Every op's first output is required (kernels write it unconditionally).
    if (node.outputs.empty() || node.outputs[0] == kNoValue) return invalid_argument(node.label(), ": has no output");
    KESTREL_ASSIGN_OR_RETURN(const std::vector<InferContext::Output> outputs, infer_node_outputs(graph, node, known));
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] == kNoValue) continue;
      KESTREL_RETURN_IF_ERROR(compare_output(graph, node, node.outputs[i], outputs[i]));
      if (outputs[i].data) known[node.outputs[i]] = *outputs[i].data;
    }
  }
  return {};
}

Status check_memory_plan(const Graph& graph, const MemoryPlan& plan, int64_t max_arena_bytes) {
  if (plan.value_offsets.size() != graph.values.size()) {
    return invalid_argument("memory plan covers ", plan.value_offsets.size(), " values but the graph has ",
                            graph.values.size());
  }
  if (plan.arena_bytes < 0) return invalid_argument("memory plan: negative arena size ", plan.arena_bytes);
  KESTREL_RETURN_IF_ERROR(check_arena_limit(plan.arena_bytes, max_arena_bytes, "the session's max_arena_bytes"));
  const Lifetimes life = lifetimes(graph);
  const std::vector<ArenaEntry> entries = arena_entries(graph, plan, life);
  for (size_t i = 0; i < entries.size(); ++i) {
    const ArenaEntry& a = entries[i];
    if (a.end > plan.arena_bytes) {
      return invalid_argument("memory plan puts ", value_label(graph, a.id), " outside the ", plan.arena_bytes,
                              "-byte arena");
    }
    for (size_t j = i + 1; j < entries.size() && entries[j].offset < a.end; ++j) {
      const ArenaEntry& b = entries[j];
      const bool both_live = a.first <= b.last && b.first <= a.last;
      if (!both_live || b.offset == b.end || sums_in_place(graph, life, a, b) || sums_in_place(graph, life, b, a) ||
          reshapes_in_place(graph, a, b) || reshapes_in_place(graph, b, a)) {
        continue;
      }
      const int64_t node = std::max(a.first, b.first);
      return invalid_argument("memory plan overlaps ", value_label(graph, a.id), " [", a.offset, ", ", a.end, ") and ",
                              value_label(graph, b.id), " [", b.offset, ", ", b.end, "), both live at ",
                              graph.nodes[static_cast<size_t>(node)].label());
    }
  }
  return {};
}

}  // namespace kestrel
