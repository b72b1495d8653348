#include "runtime/kestrel_kernels.h"

#include <cstring>

#include "kernels/channel_ops.h"
#include "kernels/cpu/channel_kernels.h"
#include "kernels/cpu/depthwise_int8.h"
#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

// ---- Concat along channels ----

// In NHWC memory each pixel's channels are contiguous, so the result is,
// pixel by pixel, each input's channel run in turn. Running in the layout of
// the convs around it, a network of concatenated branches (SqueezeNet,
// GoogLeNet, DenseNet) needs no reorders.
std::string concat_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.empty()) return "not a single-output Concat";
  const Value& out = graph.value(node.outputs[0]);
  if (out.shape.size() != 4) return "output is not 4-D";
  const int64_t axis = node.attrs.get_int("axis", 1);
  if (axis != 1 && axis != -3) return "not along channels (axis 1)";
  if (out.dtype != DType::kFloat32 && out.dtype != DType::kInt8 && out.dtype != DType::kUInt8)
    return "element type is not float32, int8 or uint8";
  for (ValueId in : node.inputs) {
    if (in == kNoValue) return "an input is omitted";
    const Value& value = graph.value(in);
    if (value.constant) return "an input is a constant";
    if (value.dtype != out.dtype || value.shape.size() != 4 || value.shape[0] != out.shape[0] ||
        value.shape[2] != out.shape[2] || value.shape[3] != out.shape[3]) {
      return "inputs differ in type, batch or size";
    }
  }
  return "";
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

StatusOr<std::unique_ptr<FastKernel>> make_concat(const Graph& graph, const Node& node) {
  const Shape& out = graph.value(node.outputs[0]).shape;
  const size_t element = dtype_size(graph.value(node.outputs[0]).dtype);
  std::vector<size_t> run_bytes;
  for (ValueId in : node.inputs) run_bytes.push_back(static_cast<size_t>(graph.value(in).shape[1]) * element);
  return std::unique_ptr<FastKernel>(new ConcatNhwcKernel(std::move(run_bytes), out[0] * out[2] * out[3]));
}

// ---- Squeeze-excitation ----

cpu::ByteType byte_type(DType dtype) { return dtype == DType::kUInt8 ? cpu::ByteType::kU8 : cpu::ByteType::kS8; }

std::string channel_scale_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.size() != 2) return "not ChannelScale(X, S)";
  if (!is_float_4d(graph, node.inputs[0]) && !is_byte_4d(graph, node.inputs[0]))
    return "X is not a float32, int8 or uint8 4-D tensor";
  return "";
}

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
  std::string implementation() const override { return std::string("kestrel channel_scale:") + cpu::kernels_isa(); }

 private:
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
  bool is_float_ = true;
  cpu::ByteType src_type_ = cpu::ByteType::kS8, dst_type_ = cpu::ByteType::kS8;
  float requant_ = 1.0f;
  std::vector<float> multiplier_;  // scale * requant per (n, c), refilled each run
};

StatusOr<std::unique_ptr<FastKernel>> make_channel_scale(const Graph& graph, const Node& node) {
  return std::unique_ptr<FastKernel>(new ChannelScaleKernel(graph, node));
}

std::string channel_affine_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.size() != 3) return "not ChannelAffine(X, Scale, Shift)";
  if (!is_float_4d(graph, node.inputs[0])) return "X is not a float32 4-D tensor";
  if (!graph.value(node.inputs[1]).constant || !graph.value(node.inputs[2]).constant)
    return "Scale and Shift are not constants";
  return "";
}

class ChannelAffineKernel final : public FastKernel {
 public:
  ChannelAffineKernel(const Graph& graph, const Node& node)
      : scale_(*graph.value(node.inputs[1]).constant), shift_(*graph.value(node.inputs[2]).constant) {
    const Value& x = graph.value(node.inputs[0]);
    batch_ = x.shape[0], channels_ = x.shape[1], pixels_ = x.shape[2] * x.shape[3];
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    cpu::channel_affine_f32(static_cast<const float*>(inputs[0]), scale_.data<float>(), shift_.data<float>(),
                            static_cast<float*>(outputs[0]), batch_, pixels_, channels_);
    return {};
  }
  std::string implementation() const override { return std::string("kestrel channel_affine:") + cpu::kernels_isa(); }

 private:
  Tensor scale_, shift_;  // the graph's constants (shared, not copied)
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
};

StatusOr<std::unique_ptr<FastKernel>> make_channel_affine(const Graph& graph, const Node& node) {
  return std::unique_ptr<FastKernel>(new ChannelAffineKernel(graph, node));
}

std::string quantized_average_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.size() != 1) return "not QGlobalAveragePool(X)";
  if (!is_byte_4d(graph, node.inputs[0])) return "X is not an int8 or uint8 4-D tensor";
  return "";
}

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
  std::string implementation() const override {
    return std::string("kestrel global_average_int8:") + cpu::kernels_isa();
  }

 private:
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
  cpu::ByteType src_type_ = cpu::ByteType::kS8, dst_type_ = cpu::ByteType::kS8;
  float multiplier_ = 1.0f;
  std::vector<int32_t> sums_;
};

StatusOr<std::unique_ptr<FastKernel>> make_quantized_average(const Graph& graph, const Node& node) {
  return std::unique_ptr<FastKernel>(new QuantizedAverageKernel(graph, node));
}

// ---- int8 depthwise convolution ----

std::string depthwise_int8_refusal(const Graph& graph, const Node& node) {
  if (!cpu::depthwise_int8_fast_path_available()) return "this CPU lacks AVX-512 VNNI or VBMI";
  if (node.outputs.size() != 1) return "not a single-output QFusedConv";
  if (!is_byte_4d(graph, node.inputs[0])) return "input is not an int8/uint8 4-D tensor";
  const Tensor* weight = constant_input(graph, node, 1);
  if (weight == nullptr || weight->dtype() != DType::kInt8 || weight->rank() != 4)
    return "weights are not a constant int8 4-D tensor";
  const int64_t channels = graph.value(node.inputs[0]).shape[1];
  if (node.attrs.get_int("group", 1) != channels || weight->dim(0) != channels || weight->dim(1) != 1)
    return "not depthwise (one filter per input channel)";
  if (has_input(node, 2)) {
    const Tensor* bias = constant_input(graph, node, 2);
    if (bias == nullptr || bias->dtype() != DType::kInt32) return "bias is not a constant int32 tensor";
  }
  if (has_input(node, 3)) return "it adds a residual (oneDNN fuses the sum)";
  if (weight->dim(2) * weight->dim(3) > cpu::kMaxDepthwiseTaps) return "window too large for int32 sums";
  if (!quantized_output_type(node).ok()) return "unknown output_type";
  if (!activation_from_attributes(node.attrs).ok()) return "unknown fused activation";
  return "";
}

class DepthwiseInt8Kernel final : public FastKernel {
 public:
  explicit DepthwiseInt8Kernel(cpu::DepthwiseInt8 kernel) : kernel_(std::move(kernel)) {}
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    kernel_.run(inputs[0], outputs[0]);
    return {};
  }
  std::string implementation() const override { return std::string("kestrel depthwise_int8:") + cpu::kernels_isa(); }

 private:
  cpu::DepthwiseInt8 kernel_;
};

StatusOr<std::unique_ptr<FastKernel>> make_depthwise_int8(const Graph& graph, const Node& node) {
  const Value& in = graph.value(node.inputs[0]);
  const Value& out = graph.value(node.outputs[0]);
  const Tensor& weight = *constant_input(graph, node, 1);
  nn::Window window;
  KESTREL_RETURN_IF_ERROR(
      nn::compute_window(node, {in.shape[2], in.shape[3]}, {weight.dim(2), weight.dim(3)}, {}, &window));
  const cpu::DepthwiseShape shape{.batch = in.shape[0],
                                  .channels = in.shape[1],
                                  .in_h = in.shape[2],
                                  .in_w = in.shape[3],
                                  .out_h = out.shape[2],
                                  .out_w = out.shape[3],
                                  .kernel_h = weight.dim(2),
                                  .kernel_w = weight.dim(3),
                                  .stride_h = window.strides[0],
                                  .stride_w = window.strides[1],
                                  .dilation_h = window.dilations[0],
                                  .dilation_w = window.dilations[1],
                                  .pad_top = window.pads_begin[0],
                                  .pad_left = window.pads_begin[1]};
  KESTREL_ASSIGN_OR_RETURN(const DType out_type, quantized_output_type(node));
  KESTREL_ASSIGN_OR_RETURN(const Activation activation, activation_from_attributes(node.attrs));
  const cpu::ConvOutput dst = out_type == DType::kFloat32 ? cpu::ConvOutput::kF32
                              : out_type == DType::kUInt8 ? cpu::ConvOutput::kU8
                                                          : cpu::ConvOutput::kS8;
  const Tensor* bias = constant_input(graph, node, 2);
  return std::unique_ptr<FastKernel>(new DepthwiseInt8Kernel(cpu::DepthwiseInt8(
      shape, byte_type(in.dtype), dst, weight.data<int8_t>(), bias != nullptr ? bias->data<int32_t>() : nullptr,
      node.attrs.get_floats(kOutputScalesAttr), activation, node.attrs.get_float(kPostScaleAttr, 1.0f))));
}

}  // namespace

const Implementation kDepthwiseInt8{.name = "kestrel_depthwise_int8",
                                    .refusal = depthwise_int8_refusal,
                                    .layout = Layout::kNhwc,
                                    .create = make_depthwise_int8};
const Implementation kNhwcConcat{
    .name = "kestrel_nhwc_concat", .refusal = concat_refusal, .layout = Layout::kNhwc, .create = make_concat};
const Implementation kNhwcChannelScale{.name = "kestrel_channel_scale",
                                       .refusal = channel_scale_refusal,
                                       .layout = Layout::kNhwc,
                                       .create = make_channel_scale};
const Implementation kNhwcChannelAffine{.name = "kestrel_channel_affine",
                                        .refusal = channel_affine_refusal,
                                        .layout = Layout::kNhwc,
                                        .create = make_channel_affine};
const Implementation kNhwcQuantizedAverage{.name = "kestrel_global_average_int8",
                                           .refusal = quantized_average_refusal,
                                           .layout = Layout::kNhwc,
                                           .create = make_quantized_average};

}  // namespace kestrel
