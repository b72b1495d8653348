#include "runtime/cpu_backend.h"

#include <cstring>

#include "kernels/activation.h"
#include "kernels/channel_ops.h"
#include "kernels/cpu/channel_kernels.h"
#include "kernels/onednn/onednn_kernels.h"
#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

bool is_op(const Node& node, const char* onnx_op, const char* fused_op) {
  return (node.domain.empty() && node.op_type == onnx_op) ||
         (fused_op != nullptr && node.domain == kKestrelDomain && node.op_type == fused_op);
}

const Tensor* constant(const Graph& graph, const Node& node, size_t i) {
  if (i >= node.inputs.size() || node.inputs[i] == kNoValue) return nullptr;
  const Value& value = graph.value(node.inputs[i]);
  return value.constant ? &*value.constant : nullptr;
}

bool has_input(const Node& node, size_t i) { return i < node.inputs.size() && node.inputs[i] != kNoValue; }

bool float_4d(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  return value.dtype == DType::kFloat32 && value.shape.size() == 4;
}

bool byte_4d(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  return (value.dtype == DType::kInt8 || value.dtype == DType::kUInt8) && value.shape.size() == 4;
}

bool is_quantized_conv(const Node& node) { return node.domain == kKestrelDomain && node.op_type == kQuantizedConvOp; }

onednn::ElementType element_type(DType dtype) {
  if (dtype == DType::kInt8) return onednn::ElementType::kS8;
  if (dtype == DType::kUInt8) return onednn::ElementType::kU8;
  return onednn::ElementType::kF32;
}

bool is_packed(const Node& node) { return node.attrs.has(kPackedLayoutAttr) || node.attrs.has(kPackedWeightsAttr); }

bool conv_supported(const Graph& graph, const Node& node) {
  const bool quantized = is_quantized_conv(node);
  if (quantized ? !byte_4d(graph, node.inputs[0])
                : !is_op(node, "Conv", "FusedConv") || !float_4d(graph, node.inputs[0])) {
    return false;
  }
  const Tensor* weight = constant(graph, node, 1);
  const bool bias_ok = !has_input(node, 2) || constant(graph, node, 2) != nullptr;
  if (!weight || !bias_ok) return false;
  return weight->dtype() == (quantized ? DType::kInt8 : DType::kFloat32) && weight->rank() == 4;
}

bool pool_supported(const Graph& graph, const Node& node) {
  if (node.outputs.size() > 1) return false;
  // Max pooling commutes with quantization: int8 in, int8 out, same scale.
  if (byte_4d(graph, node.inputs[0])) {
    return is_op(node, "MaxPool", nullptr) && node.attrs.get_int("storage_order", 0) == 0 &&
           graph.value(node.outputs[0]).dtype == graph.value(node.inputs[0]).dtype;
  }
  if (!float_4d(graph, node.inputs[0])) return false;
  if (is_op(node, "GlobalAveragePool", nullptr)) return true;
  if (is_op(node, "MaxPool", nullptr)) return node.attrs.get_int("storage_order", 0) == 0;
  // Average windows overhanging the end (ceil_mode) follow ONNX's divisor rule,
  // which oneDNN's include-pad mode does not model.
  return is_op(node, "AveragePool", nullptr) &&
         (node.attrs.get_int("ceil_mode", 0) == 0 || node.attrs.get_int("count_include_pad", 0) == 0);
}

bool gemm_supported(const Graph& graph, const Node& node) {
  if (!is_op(node, "Gemm", "FusedGemm") || node.attrs.get_int("transA", 0) != 0) return false;
  const Tensor* b = constant(graph, node, 1);
  const bool c_ok = !has_input(node, 2) || constant(graph, node, 2) != nullptr;
  return b && b->dtype() == DType::kFloat32 && b->rank() == 2 && c_ok &&
         graph.value(node.inputs[0]).dtype == DType::kFloat32;
}

StatusOr<Activation> node_activation(const Node& node) { return activation_from_attributes(node.attrs); }

template <typename Primitive>
class OneDnnKernel final : public FastKernel {
 public:
  OneDnnKernel(std::unique_ptr<Primitive> primitive, bool sum, size_t dst_bytes)
      : primitive_(std::move(primitive)), sum_(sum), dst_bytes_(dst_bytes) {}

  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    void* dst = outputs[0];
    // oneDNN's sum post-op accumulates into dst: put the residual there first.
    if (sum_ && inputs[3] != dst) std::memcpy(dst, inputs[3], dst_bytes_);
    if (!primitive_->run(inputs[0], dst)) return internal_error("oneDNN ", primitive_->implementation(), " failed");
    return {};
  }
  std::string implementation() const override { return "onednn " + primitive_->implementation(); }

 private:
  std::unique_ptr<Primitive> primitive_;
  bool sum_;
  size_t dst_bytes_;
};

size_t output_bytes(const Graph& graph, const Node& node) {
  const Value& output = graph.value(node.outputs[0]);
  return static_cast<size_t>(shape_size(output.shape)) * dtype_size(output.dtype);
}

StatusOr<onednn::ConvParams> conv_params(const Graph& graph, const Node& node) {
  const Shape& in = graph.value(node.inputs[0]).shape;
  const Shape& out = graph.value(node.outputs[0]).shape;
  const Shape& weight = constant(graph, node, 1)->shape();
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
  const Tensor& weight = *constant(graph, node, 1);
  std::unique_ptr<onednn::ConvPrimitive> primitive;
  const Tensor* cached = node.attrs.get_tensor(kPackedWeightsAttr);
  if (cached != nullptr) {
    // The key is compared, never parsed: a stale or tampered cache is repacked from the plain weights.
    const onednn::PackedWeights packed{
        .data = cached->raw_data(), .bytes = cached->nbytes(), .key = node.attrs.get_string(kPackedLayoutAttr, "")};
    KESTREL_ASSIGN_OR_RETURN(primitive,
                             onednn::ConvPrimitive::create_cached(params, weight, packed, constant(graph, node, 2)));
  } else {
    KESTREL_ASSIGN_OR_RETURN(primitive, onednn::ConvPrimitive::create(params, weight, constant(graph, node, 2)));
  }
  return std::unique_ptr<FastKernel>(
      new OneDnnKernel<onednn::ConvPrimitive>(std::move(primitive), params.sum, output_bytes(graph, node)));
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
  KESTREL_ASSIGN_OR_RETURN(auto primitive, onednn::InnerProductPrimitive::create(params, *constant(graph, node, 1),
                                                                                 constant(graph, node, 2)));
  return std::unique_ptr<FastKernel>(
      new OneDnnKernel<onednn::InnerProductPrimitive>(std::move(primitive), params.sum, output_bytes(graph, node)));
}

// QuantizeLinear / DequantizeLinear per tensor with zero point 0, as the
// quantizer emits them; others run their reference kernel.
bool scale_supported(const Graph& graph, const Node& node) {
  const bool quantize = is_op(node, "QuantizeLinear", nullptr), dequantize = is_op(node, "DequantizeLinear", nullptr);
  if (!quantize && !dequantize) return false;
  const Tensor* scale = constant(graph, node, 1);
  const Tensor* zero_point = constant(graph, node, 2);
  if (scale == nullptr || scale->size() != 1 || scale->dtype() != DType::kFloat32) return false;
  if (zero_point == nullptr || zero_point->size() != 1 || dtype_size(zero_point->dtype()) != 1 ||
      *static_cast<const uint8_t*>(zero_point->raw_data()) != 0) {
    return false;
  }
  const DType in = graph.value(node.inputs[0]).dtype;
  return quantize ? in == DType::kFloat32 : (in == DType::kInt8 || in == DType::kUInt8);
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
  const float scale = *constant(graph, node, 1)->data<float>();
  const Value& in = graph.value(node.inputs[0]);
  const Value& out = graph.value(node.outputs[0]);
  const bool quantize = node.op_type == "QuantizeLinear";
  KESTREL_ASSIGN_OR_RETURN(auto primitive,
                           onednn::ScalePrimitive::create(shape_size(in.shape), element_type(in.dtype),
                                                          element_type(out.dtype), quantize ? 1.0f / scale : scale));
  return std::unique_ptr<FastKernel>(new ScaleKernel(std::move(primitive)));
}

// Concat of 4-D activations along channels: in NHWC memory each pixel's
// channels are contiguous, so the result is, pixel by pixel, each input's
// channel run in turn. Runs in the layout of the convs around it, so a
// network of concatenated branches (SqueezeNet, GoogLeNet, DenseNet) needs
// no reorders.
bool concat_supported(const Graph& graph, const Node& node) {
  if (!is_op(node, "Concat", nullptr) || node.outputs.size() != 1 || node.inputs.empty()) return false;
  const Value& out = graph.value(node.outputs[0]);
  if (out.shape.size() != 4) return false;
  const int64_t axis = node.attrs.get_int("axis", 1);
  if (axis != 1 && axis != -3) return false;
  for (ValueId in : node.inputs) {
    if (in == kNoValue) return false;
    const Value& value = graph.value(in);
    if (value.constant || value.dtype != out.dtype || value.shape.size() != 4 || value.shape[0] != out.shape[0] ||
        value.shape[2] != out.shape[2] || value.shape[3] != out.shape[3]) {
      return false;
    }
  }
  return out.dtype == DType::kFloat32 || out.dtype == DType::kInt8 || out.dtype == DType::kUInt8;
}

class ConcatNhwcKernel final : public FastKernel {
 public:
  ConcatNhwcKernel(std::vector<size_t> run_bytes, int64_t pixels) : run_bytes_(std::move(run_bytes)), pixels_(pixels) {
    for (size_t bytes : run_bytes_) pixel_bytes_ += bytes;
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    auto* dst = static_cast<uint8_t*>(outputs[0]);
    for (int64_t p = 0; p < pixels_; ++p) {
      uint8_t* pixel = dst + static_cast<size_t>(p) * pixel_bytes_;
      for (size_t i = 0; i < run_bytes_.size(); ++i) {
        std::memcpy(pixel, static_cast<const uint8_t*>(inputs[i]) + static_cast<size_t>(p) * run_bytes_[i],
                    run_bytes_[i]);
        pixel += run_bytes_[i];
      }
    }
    return {};
  }
  std::string implementation() const override { return "kestrel nhwc concat"; }

 private:
  std::vector<size_t> run_bytes_;  // per input: its channels of one pixel
  size_t pixel_bytes_ = 0;
  int64_t pixels_;
};

std::unique_ptr<FastKernel> make_concat(const Graph& graph, const Node& node) {
  const Shape& out = graph.value(node.outputs[0]).shape;
  const size_t element = dtype_size(graph.value(node.outputs[0]).dtype);
  std::vector<size_t> run_bytes;
  for (ValueId in : node.inputs) run_bytes.push_back(static_cast<size_t>(graph.value(in).shape[1]) * element);
  return std::make_unique<ConcatNhwcKernel>(std::move(run_bytes), out[0] * out[2] * out[3]);
}

// Squeeze-excitation's channel scaling and the int8 global average pool:
// Kestrel's own NHWC kernels (kernels/cpu/channel_kernels.h).
bool channel_op_supported(const Graph& graph, const Node& node) {
  if (node.domain != kKestrelDomain || node.outputs.size() != 1) return false;
  if (node.op_type == kChannelScaleOp) {
    return float_4d(graph, node.inputs[0]) || byte_4d(graph, node.inputs[0]);
  }
  return node.op_type == kQuantizedGlobalAveragePoolOp && byte_4d(graph, node.inputs[0]);
}

// NHWC bytes: laid out so, or with one pixel per image (both layouts agree).
bool has_nhwc_memory(const Value& value) {
  return value.layout == Layout::kNhwc || (value.shape.size() == 4 && value.shape[2] == 1 && value.shape[3] == 1);
}

cpu::ByteType byte_type(DType dtype) { return dtype == DType::kUInt8 ? cpu::ByteType::kU8 : cpu::ByteType::kS8; }

class ChannelScaleKernel final : public FastKernel {
 public:
  ChannelScaleKernel(const Graph& graph, const Node& node) {
    const Value& x = graph.value(node.inputs[0]);
    batch_ = x.shape[0], channels_ = x.shape[1], pixels_ = x.shape[2] * x.shape[3];
    is_float_ = x.dtype == DType::kFloat32;
    src_type_ = byte_type(x.dtype);
    dst_type_ = byte_type(graph.value(node.outputs[0]).dtype);
    requant_ = node.attrs.get_float(kRequantScaleAttr, 1.0f);
    multiplier_.resize(static_cast<size_t>(batch_ * channels_));
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    const auto* scale = static_cast<const float*>(inputs[1]);
    if (is_float_) {
      cpu::channel_scale_f32(static_cast<const float*>(inputs[0]), scale, static_cast<float*>(outputs[0]), batch_,
                             pixels_, channels_);
      return {};
    }
    for (size_t i = 0; i < multiplier_.size(); ++i) multiplier_[i] = scale[i] * requant_;
    cpu::channel_scale_int8(inputs[0], src_type_, multiplier_.data(), outputs[0], dst_type_, batch_, pixels_,
                            channels_);
    return {};
  }
  std::string implementation() const override { return "kestrel channel_scale:" + cpu::channel_kernels_isa(); }

 private:
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
  bool is_float_ = true;
  cpu::ByteType src_type_ = cpu::ByteType::kS8, dst_type_ = cpu::ByteType::kS8;
  float requant_ = 1.0f;
  std::vector<float> multiplier_;  // scale * requant per (n, c), refilled each run
};

class QuantizedAverageKernel final : public FastKernel {
 public:
  QuantizedAverageKernel(const Graph& graph, const Node& node) {
    const Value& x = graph.value(node.inputs[0]);
    batch_ = x.shape[0], channels_ = x.shape[1], pixels_ = x.shape[2] * x.shape[3];
    src_type_ = byte_type(x.dtype);
    dst_type_ = byte_type(graph.value(node.outputs[0]).dtype);
    multiplier_ = average_multiplier(node.attrs.get_float(kRequantScaleAttr, 1.0f), pixels_);
    sums_.resize(static_cast<size_t>(channels_));
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    cpu::global_average_int8(inputs[0], src_type_, multiplier_, sums_.data(), outputs[0], dst_type_, batch_, pixels_,
                             channels_);
    return {};
  }
  std::string implementation() const override { return "kestrel global_average_int8:" + cpu::channel_kernels_isa(); }

 private:
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
  cpu::ByteType src_type_ = cpu::ByteType::kS8, dst_type_ = cpu::ByteType::kS8;
  float multiplier_ = 1.0f;
  std::vector<int32_t> sums_;
};

std::unique_ptr<FastKernel> make_channel_op(const Graph& graph, const Node& node) {
  if (node.op_type == kChannelScaleOp) return std::make_unique<ChannelScaleKernel>(graph, node);
  return std::make_unique<QuantizedAverageKernel>(graph, node);
}

}  // namespace

bool cpu_runs_nhwc(const Graph& graph, const Node& node) {
  if (conv_supported(graph, node) || pool_supported(graph, node) || concat_supported(graph, node) ||
      channel_op_supported(graph, node)) {
    return true;
  }
  // Per-tensor (de)quantization at the edge of an int8 region runs in the
  // region's layout, so the float side is reordered, once, as float.
  if ((is_op(node, "QuantizeLinear", nullptr) || is_op(node, "DequantizeLinear", nullptr)) &&
      graph.value(node.inputs[0]).shape.size() == 4) {
    const Tensor* scale = constant(graph, node, 1);
    return scale != nullptr && scale->size() == 1;
  }
  // A Flatten+Gemm reads its 4-D input in whatever layout; prefer the one convs produce.
  return gemm_supported(graph, node) && graph.value(node.inputs[0]).shape.size() == 4 &&
         node.attrs.get_int("flatten_axis", -1) == 1;
}

bool cpu_sums_in_place(const Graph& graph, const Node& node) { return conv_supported(graph, node); }

Status pack_weights_for_cpu(Graph& graph) {
  for (Node& node : graph.nodes) {
    if (!conv_supported(graph, node) || is_packed(node)) continue;
    auto params = conv_params(graph, node);
    if (!params.ok()) return params.status().with_context(node.label());
    const Tensor& weight = *constant(graph, node, 1);
    auto primitive = onednn::ConvPrimitive::create(*params, weight, constant(graph, node, 2));
    if (!primitive.ok()) return primitive.status().with_context(node.label());
    const onednn::PackedWeights packed = (*primitive)->packed_weights();
    Tensor blob(DType::kUInt8, {static_cast<int64_t>(packed.bytes)});
    std::memcpy(blob.raw_data(), packed.data, packed.bytes);
    // The plain weights stay: they are what every backend reads, and what
    // a CPU or thread count wanting another layout repacks from.
    node.attrs.set(kPackedWeightsAttr, std::move(blob));
    node.attrs.set(kPackedLayoutAttr, packed.key);
  }
  return {};
}

StatusOr<std::unique_ptr<FastKernel>> make_cpu_kernel(const Graph& graph, const Node& node) {
  if (conv_supported(graph, node)) return make_conv(graph, node);
  if (pool_supported(graph, node)) return make_pool(graph, node);
  if (scale_supported(graph, node)) return make_scale(graph, node);
  if (channel_op_supported(graph, node) && has_nhwc_memory(graph.value(node.inputs[0])))
    return make_channel_op(graph, node);
  if (concat_supported(graph, node) && graph.value(node.outputs[0]).layout == Layout::kNhwc)
    return make_concat(graph, node);
  if (node.domain == kKestrelDomain && node.op_type == "Reorder" && graph.value(node.inputs[0]).shape.size() == 4) {
    const Value& in = graph.value(node.inputs[0]);
    const bool to_nhwc = node.attrs.get_string("to", "") == "NHWC";
    KESTREL_ASSIGN_OR_RETURN(auto primitive,
                             onednn::ScalePrimitive::create_reorder(in.shape, element_type(in.dtype), to_nhwc));
    return std::unique_ptr<FastKernel>(new ScaleKernel(std::move(primitive)));
  }
  if (gemm_supported(graph, node) &&
      (graph.value(node.inputs[0]).shape.size() == 2 || node.attrs.get_int("flatten_axis", -1) == 1)) {
    return make_gemm(graph, node);
  }
  return std::unique_ptr<FastKernel>();
}

}  // namespace kestrel
