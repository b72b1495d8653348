// An activation right after Conv/Gemm (fused or not) runs inside it
// (oneDNN's eltwise post-op), so its input never goes to memory.
#include <limits>

#include "kernels/activation.h"
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

// x * Sigmoid(x), the SiLU/Swish that EfficientNet-style models export:
// returns the Mul's index when `x`'s two readers are exactly that pair.
std::optional<size_t> silu_mul(const Graph& graph, const std::vector<std::vector<size_t>>& consumers, ValueId x) {
  const auto& readers = consumers[static_cast<size_t>(x)];
  if (readers.size() != 2 || is_graph_output(graph, x)) return std::nullopt;
  for (size_t k = 0; k < 2; ++k) {
    const Node& sigmoid = graph.nodes[readers[k]];
    const Node& mul = graph.nodes[readers[1 - k]];
    if (sigmoid.op_type != "Sigmoid" || mul.op_type != "Mul" || !sigmoid.domain.empty() || !mul.domain.empty())
      continue;
    const ValueId s = sigmoid.outputs[0];
    const bool pairs = (mul.inputs[0] == x && mul.inputs[1] == s) || (mul.inputs[1] == x && mul.inputs[0] == s);
    if (pairs && has_single_consumer(graph, consumers, s)) return readers[1 - k];
  }
  return std::nullopt;
}

}  // namespace

Status fuse_activation(Graph& graph) {
  const auto consumers = consumers_of(graph);
  std::vector<char> dead(graph.nodes.size(), 0);
  for (size_t p = 0; p < graph.nodes.size(); ++p) {
    const Node& producer = graph.nodes[p];
    if (dead[p] || !is_fusable_producer(graph, producer) || has_fused_activation(producer)) continue;
    const ValueId out = producer.outputs[0];
    std::optional<Activation> activation;
    size_t consumer = 0;
    if (auto mul = silu_mul(graph, consumers, out)) {
      activation = Activation{ActivationKind::kSiLU};
      consumer = *mul;
      for (size_t reader : consumers[static_cast<size_t>(out)]) {
        if (reader != consumer) dead[reader] = 1;  // the Sigmoid
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
