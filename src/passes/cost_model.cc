#include "passes/cost_model.h"

#include "base/checked_math.h"

#include <limits>
#include <string_view>
#include <unordered_map>

namespace kestrel {
namespace {

using MacsFn = int64_t (*)(const Graph&, const Node&);

const Shape& shape_of(const Graph& graph, ValueId id) { return graph.value(id).shape; }

// A count too large for int64 (only for shapes nothing could run) saturates.
constexpr int64_t kSaturated = std::numeric_limits<int64_t>::max();

int64_t saturating_product(std::span<const int64_t> dims) { return checked_element_count(dims).value_or(kSaturated); }

int64_t saturating_mul(int64_t a, int64_t b) { return checked_mul(a, b).value_or(kSaturated); }

// Each output element costs (input channels per group) x (kernel size) MACs.
int64_t conv_macs(const Graph& graph, const Node& node) {
  // Weights packed for the CPU keep their logical shape in an attribute.
  const Shape weight =
      node.attrs.has("weight_shape") ? node.attrs.get_ints("weight_shape") : shape_of(graph, node.inputs[1]);
  if (weight.empty()) return 0;
  const int64_t per_output = saturating_product(std::span<const int64_t>(weight).subspan(1));
  return saturating_mul(saturating_product(shape_of(graph, node.outputs[0])), per_output);
}

// Each output element costs K MACs, K being the contracted dim of A.
int64_t matmul_macs(const Graph& graph, const Node& node) {
  const Shape& a = shape_of(graph, node.inputs[0]);
  if (a.empty()) return 0;
  int64_t k = a.back();
  if (node.attrs.has("flatten_axis")) {  // FusedGemm reading an unflattened input
    const int64_t axis = node.attrs.get_int("flatten_axis", 1);
    if (axis < 0 || axis > static_cast<int64_t>(a.size())) return 0;  // refused by the verifier; no cost to report
    k = saturating_product(std::span<const int64_t>(a).subspan(static_cast<size_t>(axis)));
  } else if (node.op_type != "MatMul" && node.attrs.get_int("transA", 0) && a.size() == 2) {
    k = a[0];
  }
  return saturating_mul(saturating_product(shape_of(graph, node.outputs[0])), k);
}

const std::unordered_map<std::string_view, MacsFn>& macs_table() {
  static const std::unordered_map<std::string_view, MacsFn> table = {
      {"Conv", conv_macs},   {"FusedConv", conv_macs},   {"QFusedConv", conv_macs},
      {"Gemm", matmul_macs}, {"FusedGemm", matmul_macs}, {"MatMul", matmul_macs},
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
