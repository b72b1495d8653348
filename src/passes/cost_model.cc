#include "passes/cost_model.h"

#include <string_view>
#include <unordered_map>

namespace kestrel {
namespace {

using MacsFn = int64_t (*)(const Graph&, const Node&);

const Shape& shape_of(const Graph& graph, ValueId id) { return graph.value(id).shape; }

// Each output element costs (input channels per group) x (kernel size) MACs.
int64_t conv_macs(const Graph& graph, const Node& node) {
  // Weights packed for the CPU keep their logical shape in an attribute.
  const Shape weight = node.attrs.has("weight_shape") ? node.attrs.get_ints("weight_shape") : shape_of(graph, node.inputs[1]);
  int64_t per_output = 1;
  for (size_t i = 1; i < weight.size(); ++i) per_output *= weight[i];
  return shape_size(shape_of(graph, node.outputs[0])) * per_output;
}

// Each output element costs K MACs, K being the contracted dim of A.
int64_t matmul_macs(const Graph& graph, const Node& node) {
  const Shape& a = shape_of(graph, node.inputs[0]);
  if (a.empty()) return 0;
  int64_t k = a.back();
  if (node.attrs.has("flatten_axis")) {  // FusedGemm reading an unflattened input
    k = 1;
    for (size_t i = static_cast<size_t>(node.attrs.get_int("flatten_axis", 1)); i < a.size(); ++i) k *= a[i];
  } else if (node.op_type != "MatMul" && node.attrs.get_int("transA", 0) && a.size() == 2) {
    k = a[0];
  }
  return shape_size(shape_of(graph, node.outputs[0])) * k;
}

const std::unordered_map<std::string_view, MacsFn>& macs_table() {
  static const std::unordered_map<std::string_view, MacsFn> table = {
      {"Conv", conv_macs},
      {"FusedConv", conv_macs},
      {"QFusedConv", conv_macs},
      {"Gemm", matmul_macs},
      {"FusedGemm", matmul_macs},
      {"MatMul", matmul_macs},
  };
  return table;
}

}  // namespace

int64_t node_macs(const Graph& graph, const Node& node) {
  auto it = macs_table().find(node.op_type);
  if (it == macs_table().end() || node.outputs.empty() || node.outputs[0] == kNoValue) return 0;
  return it->second(graph, node);
}

}  // namespace kestrel
