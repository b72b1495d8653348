#include "quant/qdq_import.h"

#include <cstring>
#include <optional>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

bool is_op(const Node& node, const char* op) { return node.domain.empty() && node.op_type == op; }

struct PairRange {
  float lo = 0, hi = 0;
};

// The float range a per-tensor (scale, zero point) represents, or nothing
// when the parameters are not constant scalars.
std::optional<PairRange> range_of(const Graph& graph, const Node& q) {
  const Tensor* scale = constant_input(graph, q, 1);
  const Tensor* zero_point = constant_input(graph, q, 2);
  if (scale == nullptr || scale->size() != 1 || scale->dtype() != DType::kFloat32) return std::nullopt;
  int32_t zp = 0;
  DType type = DType::kUInt8;  // ONNX's default without a zero point
  if (zero_point != nullptr) {
    if (zero_point->size() != 1) return std::nullopt;
    type = zero_point->dtype();
    if (type == DType::kUInt8) zp = zero_point->data<uint8_t>()[0];
    else if (type == DType::kInt8) zp = zero_point->data<int8_t>()[0];
    else return std::nullopt;
  }
  const int32_t qmin = type == DType::kUInt8 ? 0 : -128, qmax = type == DType::kUInt8 ? 255 : 127;
  const float s = scale->data<float>()[0];
  return PairRange{static_cast<float>(qmin - zp) * s, static_cast<float>(qmax - zp) * s};
}

bool same_params(const Graph& graph, const Node& q, const Node& dq) {
  for (size_t i = 1; i < 3; ++i) {
    const Tensor* a = constant_input(graph, q, i);
    const Tensor* b = constant_input(graph, dq, i);
    if ((a == nullptr) != (b == nullptr)) return false;
    if (a != nullptr && (a->dtype() != b->dtype() || a->nbytes() != b->nbytes() ||
                         std::memcmp(a->raw_data(), b->raw_data(), a->nbytes()) != 0)) {
      return false;
    }
  }
  return true;
}

// Ops whose output is non-negative when their first input is.
bool keeps_sign(const Node& node) {
  if (!node.domain.empty()) return false;
  for (const char* op :
       {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Identity", "Relu"}) {
    if (node.op_type == op) return true;
  }
  return false;
}

}  // namespace

int count_qdq_pairs(const Graph& graph) {
  const std::vector<int64_t> producers = graph.producers();
  int pairs = 0;
  for (const Node& dq : graph.nodes) {
    if (!is_op(dq, "DequantizeLinear") || graph.value(dq.inputs[0]).constant) continue;
    const int64_t p = producers[static_cast<size_t>(dq.inputs[0])];
    pairs += p >= 0 && is_op(graph.nodes[static_cast<size_t>(p)], "QuantizeLinear");
  }
  return pairs;
}

StatusOr<QdqRanges> fold_qdq_pairs(Graph& graph) {
  QdqRanges result;
  const std::vector<int64_t> producers = graph.producers();
  std::vector<char> non_negative(graph.values.size(), 0);  // known >= 0, in node order
  for (Node& dq : graph.nodes) {
    if (is_op(dq, "Relu") ||
        (keeps_sign(dq) && !dq.inputs.empty() && non_negative[static_cast<size_t>(dq.inputs[0])])) {
      non_negative[static_cast<size_t>(dq.outputs[0])] = 1;
    }
    if (!is_op(dq, "DequantizeLinear") || graph.value(dq.inputs[0]).constant) continue;
    const int64_t p = producers[static_cast<size_t>(dq.inputs[0])];
    if (p < 0 || !is_op(graph.nodes[static_cast<size_t>(p)], "QuantizeLinear")) continue;
    const Node& q = graph.nodes[static_cast<size_t>(p)];
    const std::optional<PairRange> range = range_of(graph, q);
    if (!range || !same_params(graph, q, dq)) continue;  // per-axis or mismatched: left to the reference kernels
    const ValueId x = q.inputs[0], y = dq.outputs[0];
    TensorStats stats;
    const float ends[] = {range->lo, range->hi};
    stats.add(ends, 2);
    ++result.folded_pairs;
    if (range->lo == 0.0f && !non_negative[static_cast<size_t>(x)]) {
      // y = Relu(x): the DequantizeLinear node becomes the Relu.
      dq = Node{.name = dq.name + "/relu", .op_type = "Relu", .inputs = {x}, .outputs = {y}};
      non_negative[static_cast<size_t>(y)] = 1;
      ++result.relus_added;
      result.stats[graph.value(y).name] = stats;
    } else {
      dq.op_type = "Identity";  // removed by eliminate_identity, readers then read x
      dq.inputs.resize(1);
      dq.inputs[0] = x;
      result.stats[graph.value(x).name] = stats;
      result.stats[graph.value(y).name] = stats;  // Identity removal may keep either name
      non_negative[static_cast<size_t>(y)] = non_negative[static_cast<size_t>(x)];
    }
  }
  KESTREL_RETURN_IF_ERROR(eliminate_dead_nodes(graph));  // the QuantizeLinear nodes
  KESTREL_RETURN_IF_ERROR(
      graph.verify().with_context("IR invalid after folding QuantizeLinear/DequantizeLinear pairs"));
  return result;
}

}  // namespace kestrel
