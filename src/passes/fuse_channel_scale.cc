// Mul(X [N,C,H,W], S [N,C,1,1]) -> ChannelScale(X, S): the squeeze-excitation
// product. Its fast kernel reads X channels-last and (in int8 graphs) stays
// in the integer domain, so the block needs no reorder and no reference Mul.
#include <algorithm>
#include <optional>

#include "kernels/channel_ops.h"
#include "kernels/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace kestrel {
namespace {

bool is_float_activation(const Value& value) { return !value.constant && value.dtype == DType::kFloat32; }

// The side holding X (0 or 1) when the Mul is a channel scaling, else -1.
int channel_scaled_side(const Graph& graph, const Node& mul) {
  if (mul.op_type != "Mul" || !mul.domain.empty() || mul.inputs.size() != 2 || mul.outputs.size() != 1) return -1;
  const Shape& out = graph.value(mul.outputs[0]).shape;
  if (out.size() != 4 || (out[2] == 1 && out[3] == 1)) return -1;
  for (int side = 0; side < 2; ++side) {
    const Value& x = graph.value(mul.inputs[static_cast<size_t>(side)]);
    const Value& s = graph.value(mul.inputs[static_cast<size_t>(1 - side)]);
    if (is_float_activation(x) && is_float_activation(s) && x.shape == out && s.shape == Shape{out[0], out[1], 1, 1}) {
      return side;
    }
  }
  return -1;
}

// The per-channel constant ([C,1,1] or [1,C,1,1], C > 1) a Mul or Add of a
// 4-D float activation broadcasts, and the activation's side; nullopt otherwise.
std::optional<std::pair<int, const Tensor*>> channel_constant_side(const Graph& graph, const Node& node) {
  if (!node.domain.empty() || (node.op_type != "Mul" && node.op_type != "Add") || node.inputs.size() != 2 ||
      node.outputs.size() != 1) {
    return std::nullopt;
  }
  const Shape& out = graph.value(node.outputs[0]).shape;
  if (out.size() != 4 || out[1] <= 1) return std::nullopt;
  for (int side = 0; side < 2; ++side) {
    const Value& x = graph.value(node.inputs[static_cast<size_t>(side)]);
    const Value& c = graph.value(node.inputs[static_cast<size_t>(1 - side)]);
    const bool per_channel = c.shape == Shape{out[1], 1, 1} || c.shape == Shape{1, out[1], 1, 1};
    if (is_float_activation(x) && x.shape == out && c.constant && c.dtype == DType::kFloat32 && per_channel) {
      return std::make_pair(side, &*c.constant);
    }
  }
  return std::nullopt;
}

}  // namespace

// Mul or Add of a 4-D activation by a per-channel constant (ConvNeXt's layer
// scale, a normalization's shift) -> ChannelAffine, which runs channels-last:
// as a broadcasting Mul it ran on the reference kernel in NCHW, between two
// reorders.
Status channel_constants_to_affine(Graph& graph) {
  for (Node& node : graph.nodes) {
    const auto found = channel_constant_side(graph, node);
    if (!found) continue;
    const auto [side, constant] = *found;
    const int64_t channels = graph.value(node.outputs[0]).shape[1];
    const bool mul = node.op_type == "Mul";
    std::vector<float> scale(static_cast<size_t>(channels), 1.0f), shift(static_cast<size_t>(channels), 0.0f);
    std::copy(constant->data<float>(), constant->data<float>() + channels, mul ? scale.begin() : shift.begin());
    const ValueId x = node.inputs[static_cast<size_t>(side)];
    const ValueId scale_id = add_constant(graph, node.name + "_scale", Tensor::from_vector<float>({channels}, scale));
    const ValueId shift_id = add_constant(graph, node.name + "_shift", Tensor::from_vector<float>({channels}, shift));
    node.op_type = kChannelAffineOp;
    node.domain = std::string(kKestrelDomain);
    node.inputs = {x, scale_id, shift_id};
  }
  return {};
}

Status fuse_channel_scale(Graph& graph) {
  for (Node& node : graph.nodes) {
    const int side = channel_scaled_side(graph, node);
    if (side < 0) continue;
    if (side == 1) std::swap(node.inputs[0], node.inputs[1]);
    node.op_type = kChannelScaleOp;
    node.domain = std::string(kKestrelDomain);
  }
  return {};
}

}  // namespace kestrel
