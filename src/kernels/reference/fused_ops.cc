// Ops that Kestrel's passes create by fusing ONNX nodes (domain "kestrel").
// Their reference kernels run the ONNX op's reference kernel, then the fused
// parts, so every fusion is checked against the unfused graph.
//
//   FusedConv(X, W, [B], [Sum]) = activation(Conv(X, W, B) + Sum)
//   FusedGemm(A, B, [C], [Sum]) = activation(Gemm(flatten?(A), B, C) + Sum)
//
// `flatten_axis` (FusedGemm, optional) flattens A to 2-D first, as ONNX
// Flatten does. Sum has the output's shape (the residual input of an Add).
#include <algorithm>

#include "kernels/activation.h"
#include "kernels/op_registry.h"

namespace kestrel {
namespace {

constexpr size_t kSumInput = 3;

// The ONNX node a fused node extends: same attributes less the fused ones, no Sum.
Node base_node(const Node& fused, std::string_view op_type) {
  Node node = fused;
  node.op_type = std::string(op_type);
  node.domain.clear();
  for (const char* name : {"activation", "activation_alpha", "activation_beta", "flatten_axis", "fused_nodes"})
    node.attrs.erase(name);
  if (node.inputs.size() > kSumInput) node.inputs.resize(kSumInput);
  return node;
}

Shape flattened(const Shape& shape, int64_t axis) {
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= shape[static_cast<size_t>(i)];
  return {outer, shape_size(shape) / std::max<int64_t>(outer, 1)};
}

template <const char* kBaseOp>
Status infer_fused(InferContext& ctx) {
  const Node base = base_node(ctx.node(), kBaseOp);
  std::vector<TensorInfo> inputs;
  for (size_t i = 0; i < std::min(ctx.num_inputs(), kSumInput); ++i) inputs.push_back(ctx.input(i));
  if (ctx.attrs().has("flatten_axis") && !inputs.empty()) {
    const int64_t axis = ctx.attrs().get_int("flatten_axis", 1);
    if (axis < 0 || axis > static_cast<int64_t>(inputs[0].shape.size())) return ctx.error("bad flatten_axis ", axis);
    inputs[0].shape = flattened(inputs[0].shape, axis);
    inputs[0].data = nullptr;
  }
  KESTREL_RETURN_IF_ERROR(activation_from_attributes(ctx.attrs()).status().with_context(ctx.node().label()));
  const OpDef* def = OpRegistry::global().find(kBaseOp);
  InferContext base_ctx(base, ctx.opset(), std::move(inputs));
  KESTREL_RETURN_IF_ERROR(def->infer(base_ctx));
  const auto& out = base_ctx.outputs()[0];
  if (ctx.has_input(kSumInput) && ctx.input_shape(kSumInput) != out.shape) {
    return ctx.error("sum input shape ", shape_string(ctx.input_shape(kSumInput)), " differs from output shape ",
                     shape_string(out.shape));
  }
  ctx.set_output(0, out.dtype, out.shape);
  return {};
}

template <const char* kBaseOp>
Status run_fused(KernelContext& ctx) {
  const Node base = base_node(ctx.node(), kBaseOp);
  std::vector<const Tensor*> inputs;
  for (size_t i = 0; i < std::min(ctx.num_inputs(), kSumInput); ++i) {
    inputs.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
  }
  Tensor flat;
  if (ctx.attrs().has("flatten_axis")) {
    // A session runs this kernel without its shape function: check again.
    const int64_t axis = ctx.attrs().get_int("flatten_axis", 1);
    if (inputs.empty() || inputs[0] == nullptr || axis < 0 || axis > inputs[0]->rank()) {
      return ctx.error("bad flatten_axis ", axis);
    }
    flat = inputs[0]->reshaped(flattened(inputs[0]->shape(), axis));
    inputs[0] = &flat;
  }
  KESTREL_ASSIGN_OR_RETURN(auto results, run_node(*OpRegistry::global().find(kBaseOp), base, ctx.opset(), inputs));
  Tensor& dst = ctx.output(0);
  if (results[0].dtype() != DType::kFloat32 || dst.dtype() != DType::kFloat32 || results[0].size() != dst.size()) {
    return ctx.error("fused ops run on float32 only, with the base op's output size");
  }
  // Sum before writing dst: the memory plan may put dst over the Sum input (a residual summed in place).
  if (ctx.has_input(kSumInput)) {
    const Tensor& sum = ctx.input(kSumInput);
    if (sum.dtype() != DType::kFloat32 || sum.size() != dst.size())
      return ctx.error("sum input does not match the output");
    for (int64_t i = 0; i < dst.size(); ++i) results[0].data<float>()[i] += sum.data<float>()[i];
  }
  std::copy_n(results[0].data<float>(), dst.size(), dst.data<float>());
  KESTREL_ASSIGN_OR_RETURN(Activation activation, activation_from_attributes(ctx.attrs()));
  apply_activation(activation, dst.data<float>(), dst.size());
  return {};
}

constexpr char kConv[] = "Conv";
constexpr char kGemm[] = "Gemm";

}  // namespace

void register_fused_ops(OpRegistry& registry) {
  registry.add({"FusedConv", infer_fused<kConv>, run_fused<kConv>});
  registry.add({"FusedGemm", infer_fused<kGemm>, run_fused<kGemm>});
}

}  // namespace kestrel
