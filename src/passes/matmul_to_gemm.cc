// MatMul(X [..., K], W [K, N]) with W a float32 constant (a Linear layer on
// an N-D tensor: ConvNeXt's pointwise MLPs, transformers' projections), an
// Add of a constant [N] bias after it, and a GELU after that, becomes a Gemm (FusedGemm) of X as [M, K], W and the bias
// (M the product of X's leading dims), reshaped back when X is not 2-D. The
// Gemm runs on oneDNN's inner product; MatMul had only the reference kernel.
// Also here: Pow(x, 2) becomes x * x.
#include "kernels/activation.h"
#include "kernels/op_registry.h"
#include "passes/fuse_common.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

bool is_float_constant_matrix(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  return value.constant && value.dtype == DType::kFloat32 && value.shape.size() == 2;
}

// The constant [N] bias of an Add reading `y` alone, and that Add's index.
std::optional<std::pair<ValueId, size_t>> bias_add(const Graph& graph,
                                                   const std::vector<std::vector<size_t>>& consumers, ValueId y,
                                                   int64_t n) {
  const auto a = only_reader(graph, consumers, y);
  if (!a) return std::nullopt;
  const Node& add = graph.nodes[*a];
  if (!add.domain.empty() || add.op_type != "Add" || add.outputs.size() != 1) return std::nullopt;
  const ValueId other = other_operand(add, y);
  if (other == kNoValue) return std::nullopt;
  const Value& bias = graph.value(other);
  if (!bias.constant || bias.dtype != DType::kFloat32 || bias.shape != Shape{n}) return std::nullopt;
  if (graph.value(add.outputs[0]).shape != graph.value(y).shape) return std::nullopt;
  return std::make_pair(other, *a);
}

ValueId add_shape_constant(Graph& graph, const std::string& base, const Shape& shape) {
  return add_constant(graph, base, Tensor::from_vector<int64_t>({static_cast<int64_t>(shape.size())}, shape));
}

}  // namespace

Status matmul_to_gemm(Graph& graph) {
  const auto consumers = consumers_of(graph);
  std::vector<char> folded(graph.nodes.size(), 0);  // a bias Add or a GELU node, now in a Gemm
  std::vector<Node> nodes;
  nodes.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node& node = graph.nodes[i];
    if (folded[i]) continue;
    const bool matmul = node.domain.empty() && node.op_type == "MatMul" && node.inputs.size() == 2 &&
                        node.outputs.size() == 1 && is_float_constant_matrix(graph, node.inputs[1]);
    const Shape x_shape = matmul ? graph.value(node.inputs[0]).shape : Shape{};
    if (!matmul || x_shape.size() < 2 || graph.value(node.inputs[0]).dtype != DType::kFloat32 ||
        graph.value(node.inputs[0]).constant) {
      nodes.push_back(std::move(node));
      continue;
    }
    const Shape w_shape = graph.value(node.inputs[1]).shape;
    const int64_t k = x_shape.back(), n = w_shape[1];
    if (w_shape[0] != k) {
      nodes.push_back(std::move(node));
      continue;
    }
    int64_t m = 1;
    for (size_t d = 0; d + 1 < x_shape.size(); ++d) m *= x_shape[d];
    ValueId y = node.outputs[0];
    Node gemm{.name = node.name,
              .op_type = "FusedGemm",
              .domain = std::string(kKestrelDomain),
              .inputs = {node.inputs[0], node.inputs[1]}};
    if (auto bias = bias_add(graph, consumers, y, n)) {
      gemm.inputs.push_back(bias->first);
      record_fused(gemm, graph.nodes[bias->second].name);
      y = graph.nodes[bias->second].outputs[0];
      folded[bias->second] = 1;
    }
    if (auto gelu = match_gelu(graph, consumers, y)) {
      set_activation_attributes(Activation{ActivationKind::kGelu}, gemm.attrs);
      for (size_t g : gelu->nodes) {
        record_fused(gemm, graph.nodes[g].name);
        folded[g] = 1;
      }
      y = gelu->output;
    }
    const Shape y_shape = graph.value(y).shape;
    if (x_shape.size() == 2) {
      gemm.outputs = {y};
      nodes.push_back(std::move(gemm));
      continue;
    }
    const std::string base = graph.value(y).name;  // a copy: add_value moves the values
    const ValueId rows = graph.add_value(Value{.name = unique_value_name(graph, base + "/rows_in"),
                                               .dtype = DType::kFloat32,
                                               .shape = {m, k},
                                               .shape_known = true});
    const ValueId product = graph.add_value(Value{.name = unique_value_name(graph, base + "/rows_out"),
                                                  .dtype = DType::kFloat32,
                                                  .shape = {m, n},
                                                  .shape_known = true});
    const ValueId rows_shape = add_shape_constant(graph, base + "/rows_in_shape", {m, k});
    const ValueId out_shape = add_shape_constant(graph, base + "/out_shape", y_shape);
    nodes.push_back(Node{
        .name = node.name + "/rows", .op_type = "Reshape", .inputs = {gemm.inputs[0], rows_shape}, .outputs = {rows}});
    gemm.inputs[0] = rows;
    gemm.outputs = {product};
    nodes.push_back(std::move(gemm));
    nodes.push_back(
        Node{.name = node.name + "/unrows", .op_type = "Reshape", .inputs = {product, out_shape}, .outputs = {y}});
  }
  graph.nodes = std::move(nodes);
  return {};
}

}  // namespace kestrel

namespace kestrel {

// Pow(x, 2) is x * x: Mul has fast elementwise paths, and x * x is what
// std::pow(x, 2) returns. LayerNorm written out (ConvNeXt at opset 13) squares
// every element this way.
Status square_pow(Graph& graph) {
  for (Node& node : graph.nodes) {
    if (!node.domain.empty() || node.op_type != "Pow" || node.inputs.size() != 2 || node.outputs.size() != 1) continue;
    const Tensor* exponent = constant_input(graph, node, 1);
    const Value& x = graph.value(node.inputs[0]);
    if (exponent == nullptr || exponent->size() != 1 || exponent->dtype() != DType::kFloat32 ||
        x.dtype != DType::kFloat32 || exponent->data<float>()[0] != 2.0f) {
      continue;
    }
    node.op_type = "Mul";
    node.inputs[1] = node.inputs[0];
  }
  return {};
}

}  // namespace kestrel
