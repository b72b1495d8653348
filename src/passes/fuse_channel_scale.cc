// Mul(X [N,C,H,W], S [N,C,1,1]) -> ChannelScale(X, S): the squeeze-excitation
// product. Its fast kernel reads X channels-last and (in int8 graphs) stays
// in the integer domain, so the block needs no reorder and no reference Mul.
#include "kernels/channel_ops.h"
#include "kernels/op_registry.h"
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

}  // namespace

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
