#include "runtime/rebatch.h"

#include <charconv>
#include <unordered_map>
#include <vector>

#include "kernels/op_registry.h"
#include "planner/arena_limit.h"  // header-only, base-only (see session.cc)
#include "runtime/graph_checks.h"
#include "runtime/op_attributes.h"

namespace kestrel {
namespace {

// The shape `value` must have at `batch`: dim 0 follows the batch when it was N.
Shape scaled_shape(const Shape& shape, int64_t full_batch, int64_t batch) {
  Shape scaled = shape;
  if (!scaled.empty() && scaled[0] == full_batch) scaled[0] = batch;
  return scaled;
}

bool is_shape_input(const Node& node, size_t input) {
  return node.domain.empty() && (node.op_type == "Reshape" || node.op_type == "Expand") && input == 1;
}

// A Reshape/Expand target [N, ...] for a batch-major output becomes [batch, ...].
// A constant read elsewhere too is copied, not changed under its other readers.
void rebatch_shape_input(Graph& graph, Node& node, int64_t full_batch, int64_t batch) {
  if (node.inputs.size() < 2 || node.inputs[1] == kNoValue || node.outputs.empty()) return;
  const Value& target = graph.value(node.inputs[1]);
  const Value& output = graph.value(node.outputs[0]);
  if (!target.constant || target.constant->rank() != 1 || target.constant->size() == 0) return;
  if (output.shape.empty() || output.shape[0] != full_batch) return;
  std::vector<int64_t> dims = target.constant->to_int64s();
  if (dims[0] != full_batch) return;
  dims[0] = batch;
  Value copy = target;
  copy.name = str_cat(target.name, "/batch", batch);
  copy.constant = Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims);
  node.inputs[1] = graph.add_value(std::move(copy));
}

}  // namespace

StatusOr<int64_t> model_max_batch(const std::vector<std::pair<std::string, std::string>>& metadata,
                                  const Graph& graph) {
  for (const auto& [key, text] : metadata) {
    if (key != kMaxBatchKey) continue;
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 1) {
      return invalid_argument("metadata '", kMaxBatchKey, "' is '", text, "', not a batch size");
    }
    KESTREL_ASSIGN_OR_RETURN(const int64_t batch, graph_batch(graph));
    if (batch != value) {
      return invalid_argument("metadata '", kMaxBatchKey, "' says ", value, " but the graph is compiled for batch ",
                              batch);
    }
    return value;
  }
  return 0;
}

StatusOr<int64_t> graph_batch(const Graph& graph) {
  if (graph.inputs.empty()) return invalid_argument("the model has no input, so no batch dimension");
  int64_t batch = 0;
  for (ValueId id : graph.inputs) {
    const Value& input = graph.value(id);
    if (input.shape.empty()) return invalid_argument("input '", input.name, "' is a scalar: it has no batch dimension");
    if (batch == 0) batch = input.shape[0];
    if (input.shape[0] != batch || batch < 1) {
      return invalid_argument("input '", input.name, "' has batch ", input.shape[0], " but '",
                              graph.value(graph.inputs[0]).name, "' has ", batch, ": the inputs disagree on the batch");
    }
  }
  return batch;
}

StatusOr<Graph> rebatch_graph(const Graph& graph, int64_t batch) {
  KESTREL_ASSIGN_OR_RETURN(const int64_t full_batch, graph_batch(graph));
  if (batch < 1 || batch > full_batch) {
    return invalid_argument("batch ", batch, " is outside 1..", full_batch, " (the model's largest batch)");
  }
  Graph out = graph;
  if (batch == full_batch) return out;
  for (ValueId id : out.inputs) out.value(id).shape[0] = batch;
  // Values computed by shape functions (Shape, Constant), for the nodes that read them.
  std::unordered_map<ValueId, Tensor> known;
  const size_t node_count = out.nodes.size();
  for (size_t n = 0; n < node_count; ++n) {
    Node& node = out.nodes[n];
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (is_shape_input(node, i)) rebatch_shape_input(out, node, full_batch, batch);
    }
    if (node.domain == kKestrelDomain && node.op_type == "LayoutView" && !node.outputs.empty()) {
      std::vector<int64_t> shape = node.attrs.get_ints("shape");
      if (!shape.empty() && shape[0] == full_batch && graph.value(node.outputs[0]).shape[0] == full_batch) {
        shape[0] = batch;
        node.attrs.set("shape", shape);
      }
    }
    auto inferred_outputs = infer_node_outputs(out, node, known);
    if (!inferred_outputs.ok()) return inferred_outputs.status().with_context(str_cat("at batch ", batch));
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ValueId id = node.outputs[i];
      if (id == kNoValue) continue;
      Value& value = out.value(id);
      const Shape expected = scaled_shape(graph.value(id).shape, full_batch, batch);
      const Shape& inferred = (*inferred_outputs)[i].shape;
      bool same = inferred.size() == expected.size();
      for (size_t d = 0; same && d < inferred.size(); ++d) same = inferred[d] < 0 || inferred[d] == expected[d];
      if (!same) {
        return invalid_argument(node.label(), ": output '", value.name, "' is ", shape_string(graph.value(id).shape),
                                " at batch ", full_batch, " but ", shape_string(inferred), " at batch ", batch,
                                ", not ", shape_string(expected),
                                ": the model does not run batch items independently along dim 0");
      }
      value.shape = expected;
      if ((*inferred_outputs)[i].data) known[id] = *(*inferred_outputs)[i].data;
    }
  }
  for (ValueId id : out.outputs) {
    const Value& output = out.value(id);
    if (output.shape.empty() || output.shape[0] != batch) {
      return invalid_argument("output '", output.name, "' is ", shape_string(output.shape), " at batch ", batch,
                              ": its dim 0 is not the batch");
    }
  }
  return out;
}

MemoryPlan rebatched_plan(const MemoryPlan& plan, const Graph& rebatched, int64_t full_batch, int64_t batch) {
  MemoryPlan result = plan;
  if (result.value_offsets.size() < rebatched.values.size()) result.value_offsets.resize(rebatched.values.size(), -1);
  if (full_batch < 1 || batch < 1 || batch >= full_batch) return result;
  bool scalable = result.arena_bytes % full_batch == 0;
  for (int64_t offset : result.value_offsets) scalable = scalable && (offset < 0 || offset % full_batch == 0);
  if (!scalable) return result;
  MemoryPlan compact = result;
  compact.arena_bytes = result.arena_bytes / full_batch * batch;
  for (int64_t& offset : compact.value_offsets) {
    if (offset >= 0) offset = offset / full_batch * batch;
  }
  return check_memory_plan(rebatched, compact, default_max_arena_bytes()).ok() ? compact : result;
}

}  // namespace kestrel
