// An activation right after Conv/Gemm (fused or not) runs inside it
// (oneDNN's eltwise post-op), so its input never goes to memory.
#include <cmath>
#include <limits>

#include "kernels/activation.h"
#include "kernels/channel_ops.h"
#include "kernels/op_registry.h"
#include "passes/fuse_common.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

// Clip's bounds: attributes before opset 11, constant inputs after.
std::optional<Activation> clip_activation(const Graph& graph, const Node& clip) {
  Activation activation{ActivationKind::kClip, -std::numeric_limits<float>::infinity(),
                        std::numeric_limits<float>::infinity()};
  if (graph.opset < 11) {
    activation.alpha = clip.attrs.get_float("min", activation.alpha);
    activation.beta = clip.attrs.get_float("max", activation.beta);
    return activation;
  }
  for (size_t i = 1; i < 3 && i < clip.inputs.size(); ++i) {
    if (clip.inputs[i] == kNoValue) continue;
    const Tensor* bound = constant_input(graph, clip, i);
    if (bound == nullptr || bound->dtype() != DType::kFloat32 || bound->size() != 1) return std::nullopt;
    (i == 1 ? activation.alpha : activation.beta) = bound->data<float>()[0];
  }
  return activation;
}

// The activation a node applies to its single input, if it is fusable.
std::optional<Activation> activation_of(const Graph& graph, const Node& node) {
  if (!node.domain.empty()) return std::nullopt;
  const std::string& op = node.op_type;
  if (op == "Relu") return Activation{ActivationKind::kRelu};
  if (op == "Sigmoid") return Activation{ActivationKind::kSigmoid};
  if (op == "HardSwish") return Activation{ActivationKind::kHardSwish};
  if (op == "LeakyRelu") return Activation{ActivationKind::kLeakyRelu, node.attrs.get_float("alpha", 0.01f)};
  if (op == "HardSigmoid") {
    return Activation{ActivationKind::kHardSigmoid, node.attrs.get_float("alpha", 0.2f),
                      node.attrs.get_float("beta", 0.5f)};
  }
  if (op == "Clip") return clip_activation(graph, node);
  return std::nullopt;
}

// HardSigmoid with HardSwish's constants: x * HardSigmoid(x) is HardSwish,
// as models exported below opset 14 write it.
bool is_hardswish_gate(const Node& node) {
  constexpr float kAlpha = 1.0f / 6.0f, kBeta = 0.5f, kTolerance = 1e-6f;
  return std::fabs(node.attrs.get_float("alpha", 0.2f) - kAlpha) < kTolerance &&
         std::fabs(node.attrs.get_float("beta", 0.5f) - kBeta) < kTolerance;
}

// The activation x * gate(x) computes when the gate is Sigmoid (SiLU/Swish,
// as EfficientNet-style models export it) or HardSwish's HardSigmoid.
std::optional<Activation> gated_activation(const Node& gate) {
  if (!gate.domain.empty()) return std::nullopt;
  if (gate.op_type == "Sigmoid") return Activation{ActivationKind::kSiLU};
  if (gate.op_type == "HardSigmoid" && is_hardswish_gate(gate)) return Activation{ActivationKind::kHardSwish};
  return std::nullopt;
}

struct GatedMul {
  Activation activation;
  size_t mul = 0;
};

// x * gate(x): the Mul's index and the activation, when `x`'s two readers
// are exactly that pair.
std::optional<GatedMul> gated_mul(const Graph& graph, const std::vector<std::vector<size_t>>& consumers, ValueId x) {
  const auto& readers = consumers[static_cast<size_t>(x)];
  if (readers.size() != 2 || is_graph_output(graph, x)) return std::nullopt;
  for (size_t k = 0; k < 2; ++k) {
    const Node& gate = graph.nodes[readers[k]];
    const Node& mul = graph.nodes[readers[1 - k]];
    const std::optional<Activation> activation = gated_activation(gate);
    if (!activation || mul.op_type != "Mul" || !mul.domain.empty() || gate.inputs.size() != 1) continue;
    const ValueId s = gate.outputs[0];
    const bool pairs = (mul.inputs[0] == x && mul.inputs[1] == s) || (mul.inputs[1] == x && mul.inputs[0] == s);
    if (pairs && has_single_consumer(graph, consumers, s)) return GatedMul{*activation, readers[1 - k]};
  }
  return std::nullopt;
}

bool is_channel_affine(const Node& node) {
  return node.domain == kKestrelDomain && node.op_type == kChannelAffineOp && node.outputs.size() == 1;
}

// ChannelAffine's fast kernel applies a Relu in the same pass.
void fuse_relu_into_affine(Graph& graph, const std::vector<std::vector<size_t>>& consumers, size_t p,
                           std::vector<char>& dead) {
  const auto consumer = only_reader(graph, consumers, graph.nodes[p].outputs[0]);
  if (!consumer || dead[*consumer]) return;
  const std::optional<Activation> activation = activation_of(graph, graph.nodes[*consumer]);
  if (!activation || activation->kind != ActivationKind::kRelu) return;
  set_activation_attributes(*activation, graph.nodes[p].attrs);
  take_over(graph, p, *consumer, dead);
}

}  // namespace

Status fuse_activation(Graph& graph) {
  const auto consumers = consumers_of(graph);
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t p = 0; p < graph.nodes.size(); ++p) {
    const Node& producer = graph.nodes[p];
    if (dead[p] || has_fused_activation(producer)) continue;
    if (is_channel_affine(producer)) {  // a BatchNormalization no conv absorbs, then Relu (DenseNet)
      fuse_relu_into_affine(graph, consumers, p, dead);
      continue;
    }
    if (!is_fusable_producer(graph, producer)) continue;
    const ValueId out = producer.outputs[0];
    std::optional<Activation> activation;
    size_t consumer = 0;
    if (auto gelu = match_gelu(graph, consumers, out)) {
      activation = Activation{ActivationKind::kGelu};
      consumer = gelu->nodes.back();
      for (size_t node : gelu->nodes) {
        if (node != consumer) dead[node] = 1;
      }
    } else if (auto gated = gated_mul(graph, consumers, out)) {
      activation = gated->activation;
      consumer = gated->mul;
      for (size_t reader : consumers[static_cast<size_t>(out)]) {
        if (reader != consumer) dead[reader] = 1;  // the gate
      }
    } else if (has_single_consumer(graph, consumers, out)) {
      consumer = consumers[static_cast<size_t>(out)][0];
      activation = activation_of(graph, graph.nodes[consumer]);
    }
    if (!activation || dead[consumer]) continue;
    Node& fused = graph.nodes[p];
    make_fused(fused);
    set_activation_attributes(*activation, fused.attrs);
    take_over(graph, p, consumer, dead);
  }
  remove_nodes(graph, dead);
  return {};
}

}  // namespace kestrel
