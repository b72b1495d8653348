#include "runtime/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>

#include "kernels/activation.h"
#include "kernels/channel_ops.h"
#include "kernels/image_preprocess.h"
#include "kernels/onednn/onednn_kernels.h"
#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"
#include "kernels/reference/nn_ops_internal.h"
#include "runtime/kestrel_kernels.h"

namespace kestrel {
namespace {

bool is_op(const Node& node, const char* onnx_op, const char* fused_op) {
  return (node.domain.empty() && node.op_type == onnx_op) ||
         (fused_op != nullptr && node.domain == kKestrelDomain && node.op_type == fused_op);
}

bool is_quantized_conv(const Node& node) { return node.domain == kKestrelDomain && node.op_type == kQuantizedConvOp; }

onednn::ElementType element_type(DType dtype) {
  if (dtype == DType::kInt8) return onednn::ElementType::kS8;
  if (dtype == DType::kUInt8) return onednn::ElementType::kU8;
  return onednn::ElementType::kF32;
}

bool is_packed(const Node& node) { return node.attrs.has(kPackedLayoutAttr) || node.attrs.has(kPackedWeightsAttr); }

std::string conv_refusal(const Graph& graph, const Node& node) {
  const bool quantized = is_quantized_conv(node);
  if (quantized && !is_byte_4d(graph, node.inputs[0])) return "input is not an int8/uint8 4-D tensor";
  if (!quantized && !is_float_4d(graph, node.inputs[0])) return "input is not a float32 4-D tensor";
  const Tensor* weight = constant_input(graph, node, 1);
  if (weight == nullptr) return "weights are not a constant";
  if (has_input(node, 2) && constant_input(graph, node, 2) == nullptr) return "bias is not a constant";
  if (weight->dtype() != (quantized ? DType::kInt8 : DType::kFloat32) || weight->rank() != 4)
    return quantized ? "weights are not int8 4-D" : "weights are not float32 4-D";
  return "";
}

std::string pool_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() > 1) return "MaxPool's Indices output is not produced";
  // Max pooling commutes with quantization: int8 in, int8 out, same scale.
  if (is_byte_4d(graph, node.inputs[0])) {
    if (!is_op(node, "MaxPool", nullptr)) return "only MaxPool runs on int8";
    if (node.attrs.get_int("storage_order", 0) != 0) return "storage_order 1";
    if (graph.value(node.outputs[0]).dtype != graph.value(node.inputs[0]).dtype)
      return "output type differs from input";
    return "";
  }
  if (!is_float_4d(graph, node.inputs[0])) return "input is not a float32 or int8 4-D tensor";
  if (is_op(node, "MaxPool", nullptr) && node.attrs.get_int("storage_order", 0) != 0) return "storage_order 1";
  // Average windows overhanging the end (ceil_mode) follow ONNX's divisor rule,
  // which oneDNN's include-pad mode does not model.
  if (is_op(node, "AveragePool", nullptr) && node.attrs.get_int("ceil_mode", 0) != 0 &&
      node.attrs.get_int("count_include_pad", 0) != 0) {
    return "ceil_mode with count_include_pad (ONNX's divisor for overhanging windows)";
  }
  return "";
}

std::string gemm_refusal(const Graph& graph, const Node& node) {
  if (node.attrs.get_int("transA", 0) != 0) return "transA";
  const Tensor* b = constant_input(graph, node, 1);
  if (b == nullptr || b->dtype() != DType::kFloat32 || b->rank() != 2) return "B is not a constant float32 matrix";
  if (has_input(node, 2) && constant_input(graph, node, 2) == nullptr) return "C is not a constant";
  const Value& a = graph.value(node.inputs[0]);
  if (a.dtype != DType::kFloat32) return "A is not float32";
  if (a.shape.size() != 2 && !(a.shape.size() == 4 && node.attrs.get_int("flatten_axis", -1) == 1))
    return "A is neither 2-D nor a 4-D activation flattened at axis 1";
  return "";
}

StatusOr<Activation> node_activation(const Node& node) { return activation_from_attributes(node.attrs); }

template <typename Primitive>
class OneDnnKernel final : public FastKernel {
 public:
  OneDnnKernel(std::unique_ptr<Primitive> primitive, bool sum, size_t dst_bytes, bool repacked = false)
      : primitive_(std::move(primitive)), sum_(sum), dst_bytes_(dst_bytes), repacked_(repacked) {}

  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    void* dst = outputs[0];
    // oneDNN's sum post-op accumulates into dst: put the residual there first.
    if (sum_ && inputs[3] != dst) std::memcpy(dst, inputs[3], dst_bytes_);
    if (!primitive_->run(inputs[0], dst)) return internal_error("oneDNN ", primitive_->implementation(), " failed");
    return {};
  }
  std::string implementation() const override { return "onednn " + primitive_->implementation(); }
  bool repacked_weights() const override { return repacked_; }

 private:
  std::unique_ptr<Primitive> primitive_;
  bool sum_;
  size_t dst_bytes_;
  bool repacked_;
};

size_t output_bytes(const Graph& graph, const Node& node) {
  const Value& output = graph.value(node.outputs[0]);
  return static_cast<size_t>(shape_size(output.shape)) * dtype_size(output.dtype);
}

StatusOr<onednn::ConvParams> conv_params(const Graph& graph, const Node& node) {
  const Shape& in = graph.value(node.inputs[0]).shape;
  const Shape& out = graph.value(node.outputs[0]).shape;
  const Shape& weight = constant_input(graph, node, 1)->shape();
  nn::Window window;
  KESTREL_RETURN_IF_ERROR(nn::compute_window(node, {in[2], in[3]}, {weight[2], weight[3]}, {}, &window));
  onednn::ConvParams params{.batch = in[0],
                            .in_channels = in[1],
                            .in_h = in[2],
                            .in_w = in[3],
                            .out_channels = out[1],
                            .out_h = out[2],
                            .out_w = out[3],
                            .kernel_h = weight[2],
                            .kernel_w = weight[3],
                            .stride_h = window.strides[0],
                            .stride_w = window.strides[1],
                            .dilation_h = window.dilations[0],
                            .dilation_w = window.dilations[1],
                            .pad_top = window.pads_begin[0],
                            .pad_left = window.pads_begin[1],
                            .pad_bottom = window.pads_end[0],
                            .pad_right = window.pads_end[1],
                            .groups = node.attrs.get_int("group", 1)};
  KESTREL_ASSIGN_OR_RETURN(params.activation, node_activation(node));
  params.sum = has_input(node, 3);
  if (is_quantized_conv(node)) {
    params.src_type = element_type(graph.value(node.inputs[0]).dtype);
    params.dst_type = element_type(graph.value(node.outputs[0]).dtype);
    if (params.sum) params.sum_type = element_type(graph.value(node.inputs[3]).dtype);
    params.output_scales = node.attrs.get_floats(kOutputScalesAttr);
    params.sum_scale = node.attrs.get_float(kSumScaleAttr, 1.0f);
    params.post_scale = node.attrs.get_float(kPostScaleAttr, 1.0f);
  }
  return params;
}

StatusOr<std::unique_ptr<FastKernel>> make_conv(const Graph& graph, const Node& node) {
  KESTREL_ASSIGN_OR_RETURN(const onednn::ConvParams params, conv_params(graph, node));
  const Tensor& weight = *constant_input(graph, node, 1);
  std::unique_ptr<onednn::ConvPrimitive> primitive;
  const Tensor* cached = node.attrs.get_tensor(kPackedWeightsAttr);
  if (cached != nullptr) {
    // The key is compared, never parsed: a stale or tampered cache is repacked from the plain weights.
    const onednn::PackedWeights packed{
        .data = cached->raw_data(), .bytes = cached->nbytes(), .key = node.attrs.get_string(kPackedLayoutAttr, "")};
    KESTREL_ASSIGN_OR_RETURN(
        primitive, onednn::ConvPrimitive::create_cached(params, weight, packed, constant_input(graph, node, 2)));
  } else {
    KESTREL_ASSIGN_OR_RETURN(primitive, onednn::ConvPrimitive::create(params, weight, constant_input(graph, node, 2)));
  }
  const bool repacked = cached != nullptr && !primitive->weights_used_in_place();
  return std::unique_ptr<FastKernel>(
      new OneDnnKernel<onednn::ConvPrimitive>(std::move(primitive), params.sum, output_bytes(graph, node), repacked));
}

StatusOr<std::unique_ptr<FastKernel>> make_pool(const Graph& graph, const Node& node) {
  const Shape& in = graph.value(node.inputs[0]).shape;
  const Shape& out = graph.value(node.outputs[0]).shape;
  onednn::PoolParams params{.batch = in[0],
                            .channels = in[1],
                            .in_h = in[2],
                            .in_w = in[3],
                            .out_h = out[2],
                            .out_w = out[3],
                            .type = element_type(graph.value(node.inputs[0]).dtype)};
  if (node.op_type == "GlobalAveragePool") {
    params.kind = onednn::PoolKind::kAvgExcludePad;
    params.kernel_h = in[2];
    params.kernel_w = in[3];
  } else {
    const bool is_max = node.op_type == "MaxPool";
    nn::Window window;
    const auto kernel = node.attrs.get_ints("kernel_shape");
    if (kernel.size() != 2) return unimplemented(node.label(), ": only 2-D pooling is accelerated");
    KESTREL_RETURN_IF_ERROR(nn::compute_window(node, {in[2], in[3]}, kernel,
                                               {.allow_dilations = is_max, .allow_ceil_mode = true}, &window));
    params.kind = is_max                                       ? onednn::PoolKind::kMax
                  : node.attrs.get_int("count_include_pad", 0) ? onednn::PoolKind::kAvgIncludePad
                                                               : onednn::PoolKind::kAvgExcludePad;
    params.kernel_h = kernel[0];
    params.kernel_w = kernel[1];
    params.stride_h = window.strides[0];
    params.stride_w = window.strides[1];
    params.pad_top = window.pads_begin[0];
    params.pad_left = window.pads_begin[1];
    params.pad_bottom = window.pads_end[0];
    params.pad_right = window.pads_end[1];
    params.dilation_h = window.dilations[0];
    params.dilation_w = window.dilations[1];
  }
  KESTREL_ASSIGN_OR_RETURN(auto primitive, onednn::PoolPrimitive::create(params));
  return std::unique_ptr<FastKernel>(
      new OneDnnKernel<onednn::PoolPrimitive>(std::move(primitive), false, output_bytes(graph, node)));
}

StatusOr<std::unique_ptr<FastKernel>> make_gemm(const Graph& graph, const Node& node) {
  const Shape& in = graph.value(node.inputs[0]).shape;
  const Shape& out = graph.value(node.outputs[0]).shape;
  const bool nhwc_source = in.size() == 4 && graph.value(node.inputs[0]).layout == Layout::kNhwc;
  onednn::InnerProductParams params{.batch = out[0],
                                    .in_features = shape_size(in) / out[0],
                                    .out_features = out[1],
                                    .trans_b = node.attrs.get_int("transB", 0) != 0,
                                    .alpha = node.attrs.get_float("alpha", 1.0f),
                                    .beta = node.attrs.get_float("beta", 1.0f)};
  if (nhwc_source) {
    params.src_h = in[2];
    params.src_w = in[3];
  }
  KESTREL_ASSIGN_OR_RETURN(params.activation, node_activation(node));
  params.sum = has_input(node, 3);
  KESTREL_ASSIGN_OR_RETURN(
      auto primitive,
      onednn::InnerProductPrimitive::create(params, *constant_input(graph, node, 1), constant_input(graph, node, 2)));
  return std::unique_ptr<FastKernel>(
      new OneDnnKernel<onednn::InnerProductPrimitive>(std::move(primitive), params.sum, output_bytes(graph, node)));
}

// QuantizeLinear / DequantizeLinear per tensor with zero point 0, as the
// quantizer emits them; others run their reference kernel.
std::string scale_refusal(const Graph& graph, const Node& node) {
  const Tensor* scale = constant_input(graph, node, 1);
  if (scale == nullptr || scale->size() != 1 || scale->dtype() != DType::kFloat32)
    return "scale is not one constant float32 (per-axis)";
  const Tensor* zero_point = constant_input(graph, node, 2);
  if (zero_point == nullptr || zero_point->size() != 1 || dtype_size(zero_point->dtype()) != 1 ||
      *static_cast<const uint8_t*>(zero_point->raw_data()) != 0) {
    return "zero point is not a constant 0";
  }
  const DType in = graph.value(node.inputs[0]).dtype;
  const bool quantize = node.op_type == "QuantizeLinear";
  if (quantize ? in != DType::kFloat32 : in != DType::kInt8 && in != DType::kUInt8)
    return quantize ? "input is not float32" : "input is not int8/uint8";
  return "";
}

class ScaleKernel final : public FastKernel {
 public:
  explicit ScaleKernel(std::unique_ptr<onednn::ScalePrimitive> primitive) : primitive_(std::move(primitive)) {}
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    if (!primitive_->run(inputs[0], outputs[0]))
      return internal_error("oneDNN ", primitive_->implementation(), " failed");
    return {};
  }
  std::string implementation() const override { return "onednn " + primitive_->implementation(); }

 private:
  std::unique_ptr<onednn::ScalePrimitive> primitive_;
};

StatusOr<std::unique_ptr<FastKernel>> make_scale(const Graph& graph, const Node& node) {
  const float scale = *constant_input(graph, node, 1)->data<float>();
  const Value& in = graph.value(node.inputs[0]);
  const Value& out = graph.value(node.outputs[0]);
  const bool quantize = node.op_type == "QuantizeLinear";
  KESTREL_ASSIGN_OR_RETURN(auto primitive,
                           onednn::ScalePrimitive::create(shape_size(in.shape), element_type(in.dtype),
                                                          element_type(out.dtype), quantize ? 1.0f / scale : scale));
  return std::unique_ptr<FastKernel>(new ScaleKernel(std::move(primitive)));
}

std::string reorder_refusal(const Graph& graph, const Node& node) {
  return graph.value(node.inputs[0]).shape.size() == 4 ? "" : "not a 4-D tensor";
}

StatusOr<std::unique_ptr<FastKernel>> make_reorder(const Graph& graph, const Node& node) {
  const Value& in = graph.value(node.inputs[0]);
  const bool to_nhwc = node.attrs.get_string("to", "") == "NHWC";
  KESTREL_ASSIGN_OR_RETURN(auto primitive,
                           onednn::ScalePrimitive::create_reorder(in.shape, element_type(in.dtype), to_nhwc));
  return std::unique_ptr<FastKernel>(new ScaleKernel(std::move(primitive)));
}

Status pack_conv(Graph& graph, Node& node) {
  if (is_packed(node)) return {};
  auto params = conv_params(graph, node);
  if (!params.ok()) return params.status().with_context(node.label());
  const Tensor& weight = *constant_input(graph, node, 1);
  auto primitive = onednn::ConvPrimitive::create(*params, weight, constant_input(graph, node, 2));
  if (!primitive.ok()) return primitive.status().with_context(node.label());
  const onednn::PackedWeights packed = (*primitive)->packed_weights();
  Tensor blob(DType::kUInt8, {static_cast<int64_t>(packed.bytes)});
  std::memcpy(blob.raw_data(), packed.data, packed.bytes);
  // The plain weights stay: they are what every backend reads, and what
  // a CPU or thread count wanting another layout repacks from.
  node.attrs.set(kPackedWeightsAttr, std::move(blob));
  node.attrs.set(kPackedLayoutAttr, packed.key);
  return {};
}

const Implementation kOneDnnConv{.name = "onednn_conv",
                                 .refusal = conv_refusal,
                                 .layout = Layout::kNhwc,
                                 .sums_in_place = true,
                                 .pack = pack_conv,
                                 .create = make_conv};
const Implementation kOneDnnPool{
    .name = "onednn_pool", .refusal = pool_refusal, .layout = Layout::kNhwc, .create = make_pool};
// A Flatten+Gemm reads its 4-D input in whatever layout; it asks for the one convs produce.
const Implementation kOneDnnInnerProduct{
    .name = "onednn_inner_product", .refusal = gemm_refusal, .layout = Layout::kNhwc, .create = make_gemm};
// Per-tensor (de)quantization at the edge of an int8 region runs in the
// region's layout, so the float side is reordered, once, as float.
const Implementation kOneDnnScale{
    .name = "onednn_scale", .refusal = scale_refusal, .layout = Layout::kNhwc, .create = make_scale};
const Implementation kOneDnnReorder{.name = "onednn_reorder", .refusal = reorder_refusal, .create = make_reorder};
const Implementation kReference{.name = kReferenceImplementation};

struct OpKey {
  std::string_view domain, op_type;
  bool operator==(const OpKey&) const = default;
};

struct OpKeyHash {
  size_t operator()(const OpKey& key) const { return std::hash<std::string_view>()(key.op_type); }
};

// One line per op: its implementations in order of preference (the
// reference kernel follows them all).
const std::unordered_map<OpKey, std::vector<const Implementation*>, OpKeyHash>& cpu_registry() {
  static const std::unordered_map<OpKey, std::vector<const Implementation*>, OpKeyHash> registry = {
      {{"", "Conv"}, {&kOneDnnConv}},
      {{kKestrelDomain, "FusedConv"}, {&kOneDnnConv}},
      // Kestrel's depthwise kernel is slower than oneDNN's brdgmm on Zen 4
      // (0.6-0.9x, bench/conv_shapes.sh): after it, until it is faster.
      {{kKestrelDomain, kQuantizedConvOp}, {&kOneDnnConv, &kDepthwiseInt8}},
      {{"", "MaxPool"}, {&kOneDnnPool}},
      {{"", "AveragePool"}, {&kOneDnnPool}},
      {{"", "GlobalAveragePool"}, {&kOneDnnPool}},
      {{"", "Gemm"}, {&kOneDnnInnerProduct}},
      {{kKestrelDomain, "FusedGemm"}, {&kOneDnnInnerProduct}},
      {{"", "QuantizeLinear"}, {&kOneDnnScale}},
      {{"", "DequantizeLinear"}, {&kOneDnnScale}},
      {{"", "Concat"}, {&kNhwcConcat}},
      {{kKestrelDomain, kQuantizedConcatOp}, {&kNhwcConcat}},
      {{kKestrelDomain, kChannelShuffleOp}, {&kNhwcChannelShuffle}},
      {{"", "Slice"}, {&kNhwcChannelSlice}},
      {{"", "LayerNormalization"}, {&kLayerNorm}},
      {{kKestrelDomain, "Reorder"}, {&kOneDnnReorder}},
      {{kKestrelDomain, kChannelScaleOp}, {&kNhwcChannelScale}},
      {{kKestrelDomain, kChannelAffineOp}, {&kNhwcChannelAffine}},
      {{kKestrelDomain, kQuantizedGlobalAveragePoolOp}, {&kNhwcQuantizedAverage}},
      {{kKestrelDomain, kPreprocessFrameOp}, {&kPreprocessFrame}},
  };
  return registry;
}

// KESTREL_DISABLE=name,... skips those implementations; KESTREL_PREFER=name,...
// tries those before the others (each only where it takes the node). Read
// at every choice, for measuring one kernel against another (bench/).
bool listed_in(const char* variable, std::string_view name) {
  const char* value = std::getenv(variable);
  std::string_view rest = value != nullptr ? value : "";
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    if (rest.substr(0, comma) == name) return true;
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return false;
}

}  // namespace

ImplementationChoice choose_cpu_implementation(const Graph& graph, const Node& node) {
  ImplementationChoice choice;
  const auto& registry = cpu_registry();
  auto entry = registry.find(OpKey{node.domain, node.op_type});
  if (entry != registry.end()) {
    std::vector<const Implementation*> candidates;
    for (const bool preferred : {true, false}) {
      for (const Implementation* c : entry->second) {
        if (listed_in("KESTREL_PREFER", c->name) == preferred) candidates.push_back(c);
      }
    }
    for (const Implementation* candidate : candidates) {
      std::string reason = node.inputs.empty() || node.inputs[0] == kNoValue ? "no input"
                           : listed_in("KESTREL_DISABLE", candidate->name)   ? "disabled by KESTREL_DISABLE"
                                                                             : candidate->refusal(graph, node);
      if (reason.empty()) {
        choice.chosen = candidate;
        return choice;
      }
      choice.refused.emplace_back(candidate->name, std::move(reason));
    }
  }
  choice.chosen = &kReference;
  return choice;
}

bool cpu_runs_nhwc(const Graph& graph, const Node& node) {
  return choose_cpu_implementation(graph, node).chosen->layout == Layout::kNhwc;
}

bool cpu_sums_in_place(const Graph& graph, const Node& node) {
  return choose_cpu_implementation(graph, node).chosen->sums_in_place;
}

Status pack_weights_for_cpu(Graph& graph) {
  for (Node& node : graph.nodes) {
    const Implementation* chosen = choose_cpu_implementation(graph, node).chosen;
    if (chosen->pack != nullptr) KESTREL_RETURN_IF_ERROR(chosen->pack(graph, node));
  }
  return {};
}

StatusOr<std::unique_ptr<FastKernel>> make_cpu_kernel(const Graph& graph, const Node& node) {
  const Implementation* chosen = choose_cpu_implementation(graph, node).chosen;
  if (chosen->create == nullptr) return std::unique_ptr<FastKernel>();
  return chosen->create(graph, node);
}

}  // namespace kestrel
