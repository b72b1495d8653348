#include "runtime/kestrel_kernels.h"

#include <cstring>

#include "kernels/channel_ops.h"
#include "kernels/cpu/channel_kernels.h"
#include "kernels/op_registry.h"

namespace kestrel {
namespace {

bool is_4d_of(const Graph& graph, ValueId id, bool bytes) {
  const Value& value = graph.value(id);
  const bool type_ok =
      bytes ? value.dtype == DType::kInt8 || value.dtype == DType::kUInt8 : value.dtype == DType::kFloat32;
  return type_ok && value.shape.size() == 4;
}

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
  if (!is_4d_of(graph, node.inputs[0], false) && !is_4d_of(graph, node.inputs[0], true))
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
  std::string implementation() const override { return "kestrel channel_scale:" + cpu::channel_kernels_isa(); }

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
  if (!is_4d_of(graph, node.inputs[0], false)) return "X is not a float32 4-D tensor";
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
  std::string implementation() const override { return "kestrel channel_affine:" + cpu::channel_kernels_isa(); }

 private:
  Tensor scale_, shift_;  // the graph's constants (shared, not copied)
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
};

StatusOr<std::unique_ptr<FastKernel>> make_channel_affine(const Graph& graph, const Node& node) {
  return std::unique_ptr<FastKernel>(new ChannelAffineKernel(graph, node));
}

std::string quantized_average_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.size() != 1) return "not QGlobalAveragePool(X)";
  if (!is_4d_of(graph, node.inputs[0], true)) return "X is not an int8 or uint8 4-D tensor";
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
  std::string implementation() const override { return "kestrel global_average_int8:" + cpu::channel_kernels_isa(); }

 private:
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
  cpu::ByteType src_type_ = cpu::ByteType::kS8, dst_type_ = cpu::ByteType::kS8;
  float multiplier_ = 1.0f;
  std::vector<int32_t> sums_;
};

StatusOr<std::unique_ptr<FastKernel>> make_quantized_average(const Graph& graph, const Node& node) {
  return std::unique_ptr<FastKernel>(new QuantizedAverageKernel(graph, node));
}

}  // namespace

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
