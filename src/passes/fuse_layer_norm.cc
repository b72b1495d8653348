// LayerNorm over the last axis as exporters write it out below opset 17
// (ConvNeXt's, after its Transpose to channels-last):
//   m = ReduceMean(x, [-1]); d = x - m; v = ReduceMean(d^2, [-1])
//   y = d / Sqrt(v + eps) * gamma + beta
// becomes one LayerNormalization(x, gamma, beta) (axis -1, epsilon eps):
// ten reference ops, each a pass over the tensor, become one.
#include "kernels/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

bool is_op(const Node& node, const char* op, size_t inputs) {
  return node.domain.empty() && node.op_type == op && node.inputs.size() == inputs && node.outputs.size() == 1;
}

// A ReduceMean over the last axis of `x`, keeping dims.
bool is_last_axis_mean(const Graph& graph, const Node& node) {
  if (!node.domain.empty() || node.op_type != "ReduceMean" || node.outputs.size() != 1 || node.inputs.empty())
    return false;
  if (node.attrs.get_int("keepdims", 1) != 1) return false;
  const auto rank = static_cast<int64_t>(graph.value(node.inputs[0]).shape.size());
  std::vector<int64_t> axes = node.attrs.get_ints("axes", {});
  if (node.inputs.size() > 1 && node.inputs[1] != kNoValue) {
    const Tensor* given = constant_input(graph, node, 1);
    if (given == nullptr || given->dtype() != DType::kInt64) return false;
    axes.assign(given->data<int64_t>(), given->data<int64_t>() + given->size());
  }
  return rank >= 1 && axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

const Tensor* scalar_constant(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  if (!value.constant || value.dtype != DType::kFloat32 || value.constant->size() != 1) return nullptr;
  return &*value.constant;
}

class Matcher {
 public:
  Matcher(const Graph& graph, const std::vector<std::vector<size_t>>& consumers)
      : graph_(graph), consumers_(consumers) {}

  // The single reader of `value` (no graph output), or nullptr.
  const Node* reader(ValueId value, size_t* index) const {
    if (!has_single_consumer(graph_, consumers_, value)) return nullptr;
    *index = consumers_[static_cast<size_t>(value)][0];
    return &graph_.nodes[*index];
  }
  // The operand of a two-input `node` that is not `value`.
  static ValueId other(const Node& node, ValueId value) {
    return node.inputs[0] == value ? node.inputs[1] : node.inputs[1] == value ? node.inputs[0] : kNoValue;
  }
  // The [C] constant operand of `node` beside `value`, C the last dim of `x`.
  ValueId channel_constant(const Node& node, ValueId value, int64_t channels) const {
    const ValueId c = other(node, value);
    if (c == kNoValue) return kNoValue;
    const Value& v = graph_.value(c);
    return v.constant && v.dtype == DType::kFloat32 && v.constant->size() == channels ? c : kNoValue;
  }

 private:
  const Graph& graph_;
  const std::vector<std::vector<size_t>>& consumers_;
};

}  // namespace

Status fuse_layer_norm(Graph& graph) {
  const auto consumers = consumers_of(graph);
  const Matcher match(graph, consumers);
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& mean = graph.nodes[i];
    if (dead[i] || !is_last_axis_mean(graph, mean)) continue;
    const ValueId x = mean.inputs[0];
    const Value& xv = graph.value(x);
    if (xv.dtype != DType::kFloat32 || xv.shape.empty()) continue;
    const int64_t channels = xv.shape.back();
    size_t sub = 0, square = 0, var = 0, add_eps = 0, sqrt = 0, div = 0, mul = 0, add = 0;
    const Node* s = match.reader(mean.outputs[0], &sub);
    if (s == nullptr || !is_op(*s, "Sub", 2) || s->inputs[0] != x || s->inputs[1] != mean.outputs[0]) continue;
    const ValueId d = s->outputs[0];
    const auto& d_readers = consumers[static_cast<size_t>(d)];
    if (d_readers.size() != 2 || is_graph_output(graph, d)) continue;
    bool found = false;
    for (size_t k = 0; k < 2 && !found; ++k) {
      square = d_readers[k], div = d_readers[1 - k];
      const Node& q = graph.nodes[square];
      const Tensor* two = is_op(q, "Pow", 2) && q.inputs[0] == d ? scalar_constant(graph, q.inputs[1]) : nullptr;
      const bool pow2 = two != nullptr && two->data<float>()[0] == 2.0f;
      const bool self_mul = is_op(q, "Mul", 2) && q.inputs[0] == d && q.inputs[1] == d;
      found = (pow2 || self_mul) && is_op(graph.nodes[div], "Div", 2) && graph.nodes[div].inputs[0] == d;
    }
    if (!found) continue;
    const Node* v = match.reader(graph.nodes[square].outputs[0], &var);
    if (v == nullptr || !is_last_axis_mean(graph, *v)) continue;
    const Node* e = match.reader(v->outputs[0], &add_eps);
    if (e == nullptr || !is_op(*e, "Add", 2)) continue;
    const ValueId eps_value = Matcher::other(*e, v->outputs[0]);
    const Tensor* eps = eps_value == kNoValue ? nullptr : scalar_constant(graph, eps_value);
    if (eps == nullptr) continue;
    const Node* r = match.reader(e->outputs[0], &sqrt);
    if (r == nullptr || !is_op(*r, "Sqrt", 1) || graph.nodes[div].inputs[1] != r->outputs[0]) continue;
    if (!has_single_consumer(graph, consumers, r->outputs[0])) continue;
    const ValueId normalized = graph.nodes[div].outputs[0];
    const Node* g = match.reader(normalized, &mul);
    if (g == nullptr || !is_op(*g, "Mul", 2)) continue;
    const ValueId gamma = match.channel_constant(*g, normalized, channels);
    if (gamma == kNoValue) continue;
    const Node* b = match.reader(g->outputs[0], &add);
    if (b == nullptr || !is_op(*b, "Add", 2)) continue;
    const ValueId beta = match.channel_constant(*b, g->outputs[0], channels);
    if (beta == kNoValue || graph.value(b->outputs[0]).shape != xv.shape) continue;

    Node norm{
        .name = mean.name, .op_type = "LayerNormalization", .inputs = {x, gamma, beta}, .outputs = {b->outputs[0]}};
    norm.attrs.set("axis", int64_t{-1});
    norm.attrs.set("epsilon", eps->data<float>()[0]);
    // An ONNX op: it carries only ONNX's attributes, so no fused_nodes list.
    for (size_t n : {sub, square, var, add_eps, sqrt, div, mul}) dead[n] = 1;
    dead[i] = 1;
    graph.nodes[add] = std::move(norm);  // at the last node's place: gamma and beta are constants
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
