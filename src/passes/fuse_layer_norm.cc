// LayerNorm over the last axis as exporters write it out below opset 17
// (ConvNeXt's, after its Transpose to channels-last):
//   m = ReduceMean(x, [-1]); d = x - m; v = ReduceMean(d^2, [-1])
//   y = d / Sqrt(v + eps) * gamma + beta
// becomes one LayerNormalization(x, gamma, beta) (axis -1, epsilon eps):
// ten reference ops, each a pass over the tensor, become one.
#include <optional>
#include <vector>

#include "kernels/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

bool is_op(const Node& node, const char* op, size_t inputs) {
  return node.domain.empty() && node.op_type == op && node.inputs.size() == inputs && node.outputs.size() == 1;
}

// A ReduceMean over the last axis, keeping dims.
bool is_last_axis_mean(const Graph& graph, const Node& node) {
  if (!node.domain.empty() || node.op_type != "ReduceMean" || node.outputs.size() != 1 || node.inputs.empty())
    return false;
  if (node.attrs.get_int("keepdims", 1) != 1) return false;
  const auto rank = static_cast<int64_t>(graph.value(node.inputs[0]).shape.size());
  const auto axes = reduce_axes(graph, node, rank);
  return rank >= 1 && axes && *axes == std::vector<int64_t>{rank - 1};
}

// The nodes of one written-out LayerNorm, starting at its first ReduceMean.
struct LayerNormMatch {
  std::vector<size_t> removed;  // every node but the last
  size_t last = 0;              // the Add of beta, whose output the LayerNormalization writes
  ValueId gamma = kNoValue, beta = kNoValue;
  float epsilon = 0.0f;
};

class Matcher {
 public:
  Matcher(const Graph& graph, const std::vector<std::vector<size_t>>& consumers)
      : graph_(graph), consumers_(consumers) {}

  std::optional<LayerNormMatch> match(size_t m) const {
    const Node& mean = graph_.nodes[m];
    if (!is_last_axis_mean(graph_, mean)) return std::nullopt;
    const ValueId x = mean.inputs[0];
    const Value& xv = graph_.value(x);
    if (xv.dtype != DType::kFloat32 || xv.shape.empty()) return std::nullopt;
    LayerNormMatch found;
    found.removed.push_back(m);
    const auto sub = next(mean.outputs[0], "Sub", 2, found);
    if (!sub || graph_.nodes[*sub].inputs[0] != x || graph_.nodes[*sub].inputs[1] != mean.outputs[0])
      return std::nullopt;
    const ValueId d = graph_.nodes[*sub].outputs[0];
    const auto& d_readers = consumers_[static_cast<size_t>(d)];
    if (d_readers.size() != 2 || is_graph_output(graph_, d)) return std::nullopt;
    size_t square = 0, div = 0;
    bool paired = false;
    for (size_t k = 0; k < 2 && !paired; ++k) {
      square = d_readers[k], div = d_readers[1 - k];
      paired = is_square_of(graph_.nodes[square], d) && is_op(graph_.nodes[div], "Div", 2) &&
               graph_.nodes[div].inputs[0] == d;
    }
    if (!paired) return std::nullopt;
    found.removed.push_back(square);
    const auto var = only_reader(graph_, consumers_, graph_.nodes[square].outputs[0]);
    if (!var || !is_last_axis_mean(graph_, graph_.nodes[*var])) return std::nullopt;
    found.removed.push_back(*var);
    const auto add_eps = next(graph_.nodes[*var].outputs[0], "Add", 2, found);
    if (!add_eps) return std::nullopt;
    const auto epsilon = scalar_constant(graph_, other_operand(graph_.nodes[*add_eps], graph_.nodes[*var].outputs[0]));
    const auto sqrt = next(graph_.nodes[*add_eps].outputs[0], "Sqrt", 1, found);
    if (!epsilon || !sqrt) return std::nullopt;
    const ValueId deviation = graph_.nodes[*sqrt].outputs[0];
    if (graph_.nodes[div].inputs[1] != deviation || !has_single_consumer(graph_, consumers_, deviation))
      return std::nullopt;
    found.removed.push_back(div);
    const ValueId normalized = graph_.nodes[div].outputs[0];
    const auto mul = next(normalized, "Mul", 2, found);
    if (!mul) return std::nullopt;
    const auto add = only_reader(graph_, consumers_, graph_.nodes[*mul].outputs[0]);
    if (!add || !is_op(graph_.nodes[*add], "Add", 2)) return std::nullopt;
    const int64_t channels = xv.shape.back();
    found.gamma = channel_constant(graph_.nodes[*mul], normalized, channels);
    found.beta = channel_constant(graph_.nodes[*add], graph_.nodes[*mul].outputs[0], channels);
    if (found.gamma == kNoValue || found.beta == kNoValue ||
        graph_.value(graph_.nodes[*add].outputs[0]).shape != xv.shape)
      return std::nullopt;
    found.last = *add;
    found.epsilon = *epsilon;
    return found;
  }

 private:
  // The single reader of `value` when it is `op` with `inputs` inputs; noted in `found`.
  std::optional<size_t> next(ValueId value, const char* op, size_t inputs, LayerNormMatch& found) const {
    const auto reader = only_reader(graph_, consumers_, value);
    if (!reader || !is_op(graph_.nodes[*reader], op, inputs)) return std::nullopt;
    found.removed.push_back(*reader);
    return reader;
  }

  // Pow(d, 2) or Mul(d, d).
  bool is_square_of(const Node& node, ValueId d) const {
    if (is_op(node, "Pow", 2) && node.inputs[0] == d) return scalar_constant(graph_, node.inputs[1]) == 2.0f;
    return is_op(node, "Mul", 2) && node.inputs[0] == d && node.inputs[1] == d;
  }

  // The [channels] float constant operand of `node` beside `value`, or kNoValue.
  ValueId channel_constant(const Node& node, ValueId value, int64_t channels) const {
    const ValueId c = other_operand(node, value);
    if (c == kNoValue) return kNoValue;
    const Value& v = graph_.value(c);
    return v.constant && v.dtype == DType::kFloat32 && v.constant->size() == channels ? c : kNoValue;
  }

  const Graph& graph_;
  const std::vector<std::vector<size_t>>& consumers_;
};

}  // namespace

Status fuse_layer_norm(Graph& graph) {
  const auto consumers = consumers_of(graph);
  const Matcher matcher(graph, consumers);
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (dead[i]) continue;
    const auto found = matcher.match(i);
    if (!found) continue;
    const Node& last = graph.nodes[found->last];
    Node norm{.name = graph.nodes[i].name,
              .op_type = "LayerNormalization",
              .inputs = {graph.nodes[i].inputs[0], found->gamma, found->beta},
              .outputs = last.outputs};
    norm.attrs.set("axis", int64_t{-1});
    norm.attrs.set("epsilon", found->epsilon);
    // An ONNX op: it carries only ONNX's attributes, so no fused_nodes list.
    for (size_t n : found->removed) dead[n] = 1;
    graph.nodes[found->last] = std::move(norm);  // at the last node's place: gamma and beta are constants
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
