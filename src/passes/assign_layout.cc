#include "passes/assign_layout.h"

#include <map>
#include <set>
#include <string_view>

#include "kernels/op_registry.h"
#include "passes/graph_edit.h"

namespace kestrel {
namespace {

// A 4-D activation whose bytes depend on the layout. One pixel per image
// ([N, C, 1, 1], a squeeze-excitation vector) is the same in NCHW and NHWC:
// it is never reordered.
bool is_activation_4d(const Value& value) {
  const bool reorderable = value.dtype == DType::kFloat32 || dtype_size(value.dtype) == 1;
  return !value.constant && reorderable && value.shape.size() == 4 && !(value.shape[2] == 1 && value.shape[3] == 1);
}

// Pure elementwise ops give the same result in any layout when no input
// broadcasts (scalar constants aside).
bool is_layout_agnostic(const Graph& graph, const Node& node) {
  static const std::set<std::string_view> kElementwise = {
      "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Sqrt", "Add", "Sub", "Mul",
      "Div", "Neg", "Abs", "Exp",
      // per tensor (scalar scale and zero point), as the quantizer writes them
      "QuantizeLinear", "DequantizeLinear"};
  if (!node.domain.empty() || !kElementwise.count(node.op_type) || node.outputs.size() != 1) return false;
  const Shape& out = graph.value(node.outputs[0]).shape;
  for (ValueId in : node.inputs) {
    if (in == kNoValue) continue;
    const Value& value = graph.value(in);
    const bool scalar_constant = value.constant && value.constant->size() == 1;
    if (!scalar_constant && (value.constant || value.shape != out)) return false;
  }
  return true;
}

class LayoutAssigner {
 public:
  LayoutAssigner(Graph& graph, NhwcPredicate runs_nhwc) : graph_(graph), runs_nhwc_(runs_nhwc) {}

  Status run() {
    std::vector<Node> nodes = std::move(graph_.nodes);
    graph_.nodes.clear();
    for (Node& node : nodes) place(std::move(node));
    for (ValueId& out : graph_.outputs) restore_plain_output(out);
    return {};
  }

 private:
  // A Transpose that only relabels bytes (see LayoutView in
  // kernels/reference/layout_ops.cc): (0,2,3,1) of an NHWC tensor gives the
  // plain [N,H,W,C]; (0,3,1,2) of a plain [N,H,W,C] gives the NHWC [N,C,H,W].
  bool place_as_view(Node& node) {
    if (!node.domain.empty() || node.op_type != "Transpose" || node.inputs.size() != 1 || node.outputs.size() != 1)
      return false;
    const Value& x = graph_.value(node.inputs[0]);
    const Value& y = graph_.value(node.outputs[0]);
    const bool bytes = x.dtype == DType::kFloat32 || dtype_size(x.dtype) == 1;
    if (x.constant || !bytes || x.shape.size() != 4) return false;
    const std::vector<int64_t> perm = node.attrs.get_ints("perm", {});
    Layout out_layout = Layout::kPlain;
    if (perm == std::vector<int64_t>{0, 2, 3, 1} && is_activation_4d(x) && x.layout == Layout::kNhwc) {
      out_layout = Layout::kPlain;
    } else if (perm == std::vector<int64_t>{0, 3, 1, 2} && is_activation_4d(y) && x.layout == Layout::kPlain) {
      out_layout = Layout::kNhwc;
    } else {
      return false;
    }
    const Shape shape = y.shape;
    node.op_type = "LayoutView";
    node.domain = std::string(kKestrelDomain);
    node.attrs = Attributes();
    node.attrs.set("shape", shape);
    graph_.value(node.outputs[0]).layout = out_layout;
    graph_.nodes.push_back(std::move(node));
    return true;
  }

  void place(Node node) {
    if (place_as_view(node)) return;
    Layout wanted = Layout::kPlain;
    if (runs_nhwc_(graph_, node)) {
      wanted = Layout::kNhwc;
    } else if (is_layout_agnostic(graph_, node)) {
      wanted = Layout::kNhwc;  // stay in the layout the producers chose when they agree
      for (ValueId in : node.inputs) {
        if (in != kNoValue && is_activation_4d(graph_.value(in)) && graph_.value(in).layout == Layout::kPlain) {
          wanted = Layout::kPlain;
        }
      }
    }
    for (ValueId& in : node.inputs) {
      if (in != kNoValue && is_activation_4d(graph_.value(in))) in = in_layout(in, wanted);
    }
    for (ValueId out : node.outputs) {
      if (out != kNoValue && is_activation_4d(graph_.value(out))) {
        graph_.value(out).layout = wanted;
      }
    }
    graph_.nodes.push_back(std::move(node));
  }

  // The value in the wanted layout, reordering (once per value) if needed.
  ValueId in_layout(ValueId value, Layout wanted) {
    if (graph_.value(value).layout == wanted) return value;
    auto cached = converted_.find({value, wanted});
    if (cached != converted_.end()) return cached->second;
    Value copy = graph_.value(value);
    copy.name = copy.name + (wanted == Layout::kNhwc ? "/nhwc" : "/nchw");
    copy.layout = wanted;
    const ValueId converted = graph_.add_value(std::move(copy));
    graph_.nodes.push_back(reorder_node(value, converted, wanted));
    converted_[{value, wanted}] = converted;
    return converted;
  }

  Node reorder_node(ValueId from, ValueId to, Layout wanted) {
    Node reorder{.name = graph_.value(to).name,
                 .op_type = "Reorder",
                 .domain = std::string(kKestrelDomain),
                 .inputs = {from},
                 .outputs = {to}};
    reorder.attrs.set("to", std::string(wanted == Layout::kNhwc ? "NHWC" : "NCHW"));
    return reorder;
  }

  // Graph outputs keep their names and are plain: the producer writes a
  // renamed NHWC value and a final Reorder writes the output.
  void restore_plain_output(ValueId output) {
    if (graph_.value(output).layout == Layout::kPlain) return;
    Value inner = graph_.value(output);
    inner.name += "/nhwc";
    const ValueId renamed = graph_.add_value(std::move(inner));
    for (Node& node : graph_.nodes) {
      for (ValueId& in : node.inputs) in = in == output ? renamed : in;
      for (ValueId& out : node.outputs) out = out == output ? renamed : out;
    }
    graph_.value(output).layout = Layout::kPlain;
    graph_.nodes.push_back(reorder_node(renamed, output, Layout::kPlain));
  }

  Graph& graph_;
  NhwcPredicate runs_nhwc_;
  std::map<std::pair<ValueId, Layout>, ValueId> converted_;
};

}  // namespace

Status assign_layouts(Graph& graph, NhwcPredicate runs_nhwc) { return LayoutAssigner(graph, runs_nhwc).run(); }

int count_reorders(const Graph& graph) {
  int count = 0;
  for (const Node& node : graph.nodes) count += node.op_type == "Reorder" && node.domain == kKestrelDomain;
  return count;
}

}  // namespace kestrel
