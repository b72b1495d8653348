// BatchNormalization (inference) is y = x * s + t per channel, with
// s = scale / sqrt(var + eps) and t = bias - mean * s. After a Conv or Gemm it
// folds into the weights and bias; elsewhere it becomes Mul + Add.
#include <cmath>

#include "kernels/channel_ops.h"
#include "kernels/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

struct ScaleShift {
  std::vector<float> scale, shift;
};

// Null when the BN's parameters are not float32 constants of one length.
std::optional<ScaleShift> scale_shift(const Graph& graph, const Node& bn) {
  const Tensor* params[4];
  for (size_t i = 0; i < 4; ++i) {
    params[i] = constant_input(graph, bn, i + 1);
    if (params[i] == nullptr || params[i]->dtype() != DType::kFloat32 || params[i]->rank() != 1 ||
        params[i]->size() != params[0]->size()) {
      return std::nullopt;
    }
  }
  const float epsilon = bn.attrs.get_float("epsilon", 1e-5f);
  ScaleShift result;
  for (int64_t c = 0; c < params[0]->size(); ++c) {
    const float s = params[0]->data<float>()[c] / std::sqrt(params[3]->data<float>()[c] + epsilon);
    result.scale.push_back(s);
    result.shift.push_back(params[1]->data<float>()[c] - params[2]->data<float>()[c] * s);
  }
  return result;
}

bool only_first_output_used(const Node& node) {
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (node.outputs[i] != kNoValue) return false;
  }
  return true;
}

// W[co, ...] *= s[co]; b[co] = b[co] * s[co] + t[co].
void fold_into_conv(Graph& graph, Node& conv, const ScaleShift& bn) {
  const Tensor& weight = *constant_input(graph, conv, 1);
  Tensor folded = weight.clone();
  const int64_t per_channel = weight.size() / weight.dim(0);
  for (int64_t co = 0; co < weight.dim(0); ++co) {
    for (int64_t i = 0; i < per_channel; ++i) folded.data<float>()[co * per_channel + i] *= bn.scale[co];
  }
  const Tensor* bias = constant_input(graph, conv, 2);
  Tensor new_bias(DType::kFloat32, {weight.dim(0)});
  for (int64_t co = 0; co < weight.dim(0); ++co) {
    const float b = bias ? bias->data<float>()[co] : 0.0f;
    new_bias.data<float>()[co] = b * bn.scale[co] + bn.shift[co];
  }
  conv.inputs[1] = add_constant(graph, graph.value(conv.inputs[1]).name + "_bn", std::move(folded));
  conv.inputs.resize(std::max<size_t>(conv.inputs.size(), 3));
  conv.inputs[2] = add_constant(graph, conv.name + "_bn_bias", std::move(new_bias));
}

bool conv_can_fold(const Graph& graph, const Node& conv, size_t channels) {
  const Tensor* weight = constant_input(graph, conv, 1);
  const Tensor* bias = constant_input(graph, conv, 2);
  const bool bias_ok = conv.inputs.size() < 3 || conv.inputs[2] == kNoValue ||
                       (bias && bias->dtype() == DType::kFloat32 && bias->size() == static_cast<int64_t>(channels));
  return weight && weight->dtype() == DType::kFloat32 && weight->rank() >= 3 &&
         weight->dim(0) == static_cast<int64_t>(channels) && bias_ok && conv.inputs.size() <= 3;
}

// Gemm's output is [M, N] and BN scales its N features: B's feature columns
// (rows when transB) scale by s, and the new C is beta * C * s + t, beta = 1.
bool gemm_can_fold(const Graph& graph, const Node& gemm, size_t channels) {
  const Tensor* b = constant_input(graph, gemm, 1);
  const Tensor* c = constant_input(graph, gemm, 2);
  const bool has_c = gemm.inputs.size() > 2 && gemm.inputs[2] != kNoValue;
  const int64_t n = gemm.attrs.get_int("transB", 0) ? (b ? b->dim(0) : -1) : (b ? b->dim(1) : -1);
  const bool c_ok = !has_c || (c && c->dtype() == DType::kFloat32 && (c->size() == 1 || c->size() == n) &&
                               (c->rank() < 2 || c->dim(0) == 1));
  return b && b->dtype() == DType::kFloat32 && b->rank() == 2 && n == static_cast<int64_t>(channels) && c_ok &&
         gemm.attrs.get_int("transA", 0) == 0;
}

void fold_into_gemm(Graph& graph, Node& gemm, const ScaleShift& bn) {
  const Tensor& b = *constant_input(graph, gemm, 1);
  const bool trans_b = gemm.attrs.get_int("transB", 0) != 0;
  Tensor folded = b.clone();
  for (int64_t r = 0; r < b.dim(0); ++r) {
    for (int64_t k = 0; k < b.dim(1); ++k) folded.data<float>()[r * b.dim(1) + k] *= bn.scale[trans_b ? r : k];
  }
  const Tensor* c = constant_input(graph, gemm, 2);
  const float beta = gemm.attrs.get_float("beta", 1.0f);
  const int64_t channels = static_cast<int64_t>(bn.scale.size());
  Tensor new_c(DType::kFloat32, {channels});
  for (int64_t ch = 0; ch < channels; ++ch) {
    const float c_value = c ? c->data<float>()[c->size() == 1 ? 0 : ch] : 0.0f;
    new_c.data<float>()[ch] = beta * c_value * bn.scale[ch] + bn.shift[ch];
  }
  gemm.inputs[1] = add_constant(graph, graph.value(gemm.inputs[1]).name + "_bn", std::move(folded));
  gemm.inputs.resize(std::max<size_t>(gemm.inputs.size(), 3));
  gemm.inputs[2] = add_constant(graph, gemm.name + "_bn_bias", std::move(new_c));
  gemm.attrs.set("beta", 1.0f);
}

// On a 4-D activation: ChannelAffine (channels-last fast kernel, one pass).
// Otherwise per-channel Mul + Add, constants shaped [C, 1, ..., 1] to
// broadcast over NC...
void lower_to_mul_add(Graph& graph, size_t index, const ScaleShift& bn, std::vector<Node>& added) {
  const Node& node = graph.nodes[index];
  const int64_t rank = static_cast<int64_t>(graph.value(node.inputs[0]).shape.size());
  if (rank == 4 && graph.value(node.inputs[0]).dtype == DType::kFloat32) {
    const int64_t channels = static_cast<int64_t>(bn.scale.size());
    const ValueId scale = add_constant(graph, node.name + "_scale", Tensor::from_vector<float>({channels}, bn.scale));
    const ValueId shift = add_constant(graph, node.name + "_shift", Tensor::from_vector<float>({channels}, bn.shift));
    const Node& bn_node = graph.nodes[index];
    added = {Node{.name = bn_node.name,
                  .op_type = kChannelAffineOp,
                  .domain = std::string(kKestrelDomain),
                  .inputs = {bn_node.inputs[0], scale, shift},
                  .outputs = {bn_node.outputs[0]}}};
    return;
  }
  Shape shape(static_cast<size_t>(std::max<int64_t>(rank - 1, 1)), 1);
  shape[0] = static_cast<int64_t>(bn.scale.size());
  const ValueId scale = add_constant(graph, node.name + "_scale", Tensor::from_vector<float>(shape, bn.scale));
  const ValueId shift = add_constant(graph, node.name + "_shift", Tensor::from_vector<float>(shape, bn.shift));
  Value scaled_value = graph.value(node.outputs[0]);
  scaled_value.name = node.name + "_scaled";
  scaled_value.constant.reset();
  const ValueId scaled = graph.add_value(std::move(scaled_value));
  Node& bn_node = graph.nodes[index];
  Node mul{.name = bn_node.name + "_mul", .op_type = "Mul", .inputs = {bn_node.inputs[0], scale}, .outputs = {scaled}};
  Node add{.name = bn_node.name + "_add", .op_type = "Add", .inputs = {scaled, shift}, .outputs = {bn_node.outputs[0]}};
  // The Mul keeps the BatchNormalization's name as its prefix; a plain ONNX
  // Mul carries no fused_nodes attribute (the model file refuses one).
  added = {std::move(mul), std::move(add)};
}

}  // namespace

Status fold_batch_norm(Graph& graph) {
  const auto producers = graph.producers();
  const auto consumers = consumers_of(graph);
  std::vector<Node> rebuilt;
  rebuilt.reserve(graph.nodes.size());
  std::vector<char> dead(graph.nodes.size(), 0);
  std::vector<std::vector<Node>> replacement(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Node& bn = graph.nodes[n];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || !only_first_output_used(bn)) continue;
    if (bn.attrs.get_int("training_mode", 0) != 0) continue;
    const auto params = scale_shift(graph, bn);
    if (!params || graph.value(bn.inputs[0]).dtype != DType::kFloat32) continue;
    const ValueId x = bn.inputs[0];
    const int64_t p = producers[static_cast<size_t>(x)];
    if (p >= 0 && graph.nodes[p].op_type == "Conv" && graph.nodes[p].domain.empty() &&
        has_single_consumer(graph, consumers, x) && conv_can_fold(graph, graph.nodes[p], params->scale.size())) {
      fold_into_conv(graph, graph.nodes[p], *params);
      graph.nodes[p].outputs[0] = bn.outputs[0];
      record_fused(graph.nodes[p], graph.nodes[n].name);
      dead[n] = 1;
      continue;
    }
    const bool gemm_before = p >= 0 && graph.nodes[p].op_type == "Gemm" && graph.nodes[p].domain.empty() &&
                             graph.value(x).shape.size() == 2 && has_single_consumer(graph, consumers, x) &&
                             gemm_can_fold(graph, graph.nodes[p], params->scale.size());
    if (gemm_before) {
      fold_into_gemm(graph, graph.nodes[p], *params);
      graph.nodes[p].outputs[0] = bn.outputs[0];
      record_fused(graph.nodes[p], graph.nodes[n].name);
      dead[n] = 1;
      continue;
    }
    lower_to_mul_add(graph, n, *params, replacement[n]);
  }
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (dead[n]) continue;
    if (replacement[n].empty()) rebuilt.push_back(std::move(graph.nodes[n]));
    else
      for (Node& node : replacement[n]) rebuilt.push_back(std::move(node));
  }
  graph.nodes = std::move(rebuilt);
  return {};
}

}  // namespace kestrel
