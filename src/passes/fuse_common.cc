#include "passes/fuse_common.h"

#include <cmath>

#include "kernels/op_registry.h"
#include "passes/graph_edit.h"

namespace kestrel {

bool is_fusable_producer(const Graph& graph, const Node& node) {
  const bool onnx = node.domain.empty() && (node.op_type == "Conv" || node.op_type == "Gemm");
  const bool fused = node.domain == kKestrelDomain && (node.op_type == "FusedConv" || node.op_type == "FusedGemm");
  return (onnx || fused) && node.outputs.size() == 1 && graph.value(node.outputs[0]).dtype == DType::kFloat32;
}

bool has_fused_activation(const Node& node) { return node.attrs.has("activation"); }

bool has_fused_sum(const Node& node) { return node.inputs.size() > 3 && node.inputs[3] != kNoValue; }

void make_fused(Node& node) {
  if (node.domain == kKestrelDomain) return;
  node.domain = std::string(kKestrelDomain);
  node.op_type = node.op_type == "Conv" ? "FusedConv" : "FusedGemm";
}

void take_over(Graph& graph, size_t producer, size_t consumer, std::vector<char>& dead) {
  Node fused = std::move(graph.nodes[producer]);
  record_fused(fused, graph.nodes[consumer].name);
  fused.outputs = graph.nodes[consumer].outputs;
  graph.nodes[consumer] = std::move(fused);
  graph.nodes[producer] = Node{.name = "(fused)"};
  dead[producer] = 1;
}

namespace {

bool is_scalar_constant(const Graph& graph, ValueId id, float value, float tolerance) {
  const std::optional<float> c = scalar_constant(graph, id);
  return c && std::fabs(*c - value) <= tolerance;
}

bool is_binary(const Node& node, const char* op) {
  return node.domain.empty() && node.op_type == op && node.inputs.size() == 2 && node.outputs.size() == 1;
}

}  // namespace

std::optional<GeluMatch> match_gelu(const Graph& graph, const std::vector<std::vector<size_t>>& consumers, ValueId x) {
  const auto& readers = consumers[static_cast<size_t>(x)];
  if (readers.size() != 2 || is_graph_output(graph, x)) return std::nullopt;
  constexpr float kSqrt2 = 1.41421356f, kTolerance = 1e-5f;
  for (size_t k = 0; k < 2; ++k) {
    const size_t div = readers[k], mul = readers[1 - k];
    const Node& d = graph.nodes[div];
    if (!is_binary(d, "Div") || d.inputs[0] != x || !is_scalar_constant(graph, d.inputs[1], kSqrt2, kTolerance))
      continue;
    const auto erf = only_reader(graph, consumers, d.outputs[0]);
    if (!erf || graph.nodes[*erf].op_type != "Erf" || !graph.nodes[*erf].domain.empty()) continue;
    const auto add = only_reader(graph, consumers, graph.nodes[*erf].outputs[0]);
    if (!add || !is_binary(graph.nodes[*add], "Add")) continue;
    const ValueId one = other_operand(graph.nodes[*add], graph.nodes[*erf].outputs[0]);
    if (!is_scalar_constant(graph, one, 1.0f, 0.0f)) continue;
    const ValueId gate = graph.nodes[*add].outputs[0];
    const Node& m = graph.nodes[mul];
    if (!is_binary(m, "Mul") || other_operand(m, x) != gate || !has_single_consumer(graph, consumers, gate)) continue;
    const auto half = only_reader(graph, consumers, m.outputs[0]);
    if (!half || !is_binary(graph.nodes[*half], "Mul")) continue;
    const ValueId c = other_operand(graph.nodes[*half], m.outputs[0]);
    if (!is_scalar_constant(graph, c, 0.5f, 0.0f)) continue;
    return GeluMatch{{div, *erf, *add, mul, *half}, graph.nodes[*half].outputs[0]};
  }
  return std::nullopt;
}

}  // namespace kestrel
