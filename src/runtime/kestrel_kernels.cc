#include "runtime/kestrel_kernels.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "kernels/channel_ops.h"
#include "kernels/cpu/channel_kernels.h"
#include "kernels/cpu/depthwise_int8.h"
#include "kernels/cpu/parallel.h"
#include "kernels/image_preprocess.h"
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
cpu::ByteType byte_type(DType dtype) { return dtype == DType::kUInt8 ? cpu::ByteType::kU8 : cpu::ByteType::kS8; }

std::string concat_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.empty()) return "not a single-output Concat";
  const Value& out = graph.value(node.outputs[0]);
  if (out.shape.size() != 4) return "output is not 4-D";
  const int64_t axis = node.attrs.get_int("axis", 1);
  if (axis != 1 && axis != -3) return "not along channels (axis 1)";
  const bool quantized = node.op_type == kQuantizedConcatOp;
  if (out.dtype != DType::kFloat32 && out.dtype != DType::kInt8 && out.dtype != DType::kUInt8)
    return "element type is not float32, int8 or uint8";
  for (ValueId in : node.inputs) {
    if (in == kNoValue) return "an input is omitted";
    const Value& value = graph.value(in);
    if (value.constant) return "an input is a constant";
    if ((quantized ? !is_byte_4d(graph, in) : value.dtype != out.dtype) || value.shape.size() != 4 ||
        value.shape[0] != out.shape[0] || value.shape[2] != out.shape[2] || value.shape[3] != out.shape[3]) {
      return "inputs differ in type, batch or size";
    }
  }
  return "";
}

// One input's part of each output pixel: its channel run, copied, or (QConcat
// with a scale other than 1, or another byte type) requantized.
struct ConcatPart {
  size_t channels = 0;
  bool copy = true;
  cpu::ByteType type = cpu::ByteType::kU8;
  std::vector<float> multiplier;  // `channels` copies of the input's scale, when requantized
};

class ConcatNhwcKernel final : public FastKernel {
 public:
  ConcatNhwcKernel(std::vector<ConcatPart> parts, size_t element, cpu::ByteType out_type, int64_t pixels)
      : parts_(std::move(parts)), element_(element), out_type_(out_type), pixels_(pixels) {
    for (const ConcatPart& part : parts_) pixel_channels_ += part.channels;
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    auto* dst = static_cast<uint8_t*>(outputs[0]);
    size_t offset = 0;
    for (size_t i = 0; i < parts_.size(); ++i) {
      const ConcatPart& part = parts_[i];
      const auto* src = static_cast<const uint8_t*>(inputs[i]);
      const size_t run = part.channels * element_;
      for (int64_t p = 0; p < pixels_; ++p) {
        uint8_t* to = dst + (static_cast<size_t>(p) * pixel_channels_ + offset) * element_;
        const uint8_t* from = src + static_cast<size_t>(p) * run;
        if (part.copy) {
          std::memcpy(to, from, run);
        } else {
          cpu::channel_scale_int8(from, part.type, part.multiplier.data(), to, out_type_, 1, 1,
                                  static_cast<int64_t>(part.channels));
        }
      }
      offset += part.channels;
    }
    return {};
  }
  std::string implementation() const override { return "kestrel nhwc concat"; }

 private:
  std::vector<ConcatPart> parts_;
  size_t element_ = 1;
  cpu::ByteType out_type_;
  int64_t pixels_;
  size_t pixel_channels_ = 0;
};

StatusOr<std::unique_ptr<FastKernel>> make_concat(const Graph& graph, const Node& node) {
  const Value& out = graph.value(node.outputs[0]);
  const std::vector<float> scales = node.attrs.get_floats(kInputScalesAttr);
  std::vector<ConcatPart> parts;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Value& in = graph.value(node.inputs[i]);
    ConcatPart part{.channels = static_cast<size_t>(in.shape[1]), .type = byte_type(in.dtype)};
    if (node.op_type == kQuantizedConcatOp && (scales.at(i) != 1.0f || in.dtype != out.dtype)) {
      part.copy = false;
      part.multiplier.assign(part.channels, scales.at(i));
    }
    parts.push_back(std::move(part));
  }
  return std::unique_ptr<FastKernel>(new ConcatNhwcKernel(std::move(parts), dtype_size(out.dtype), byte_type(out.dtype),
                                                          out.shape[0] * out.shape[2] * out.shape[3]));
}

// ---- ChannelShuffle and channel Slice: per-pixel channel moves ----

std::string channel_shuffle_refusal(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.size() != 1) return "not ChannelShuffle(X)";
  if (!is_float_4d(graph, node.inputs[0]) && !is_byte_4d(graph, node.inputs[0]))
    return "X is not a float32, int8 or uint8 4-D tensor";
  return "";
}

// Output channel j of each pixel comes from input channel source_[j].
class ChannelGatherKernel final : public FastKernel {
 public:
  ChannelGatherKernel(std::vector<int64_t> source, int64_t in_channels, size_t element, int64_t pixels,
                      std::string what)
      : source_(std::move(source)),
        in_channels_(in_channels),
        element_(element),
        pixels_(pixels),
        what_(std::move(what)) {
    contiguous_ = !source_.empty();
    for (size_t j = 1; j < source_.size(); ++j) contiguous_ = contiguous_ && source_[j] == source_[0] + int64_t(j);
    interleaved_halves_ = in_channels_ % 2 == 0 && static_cast<int64_t>(source_.size()) == in_channels_;
    for (size_t j = 0; j < source_.size() && interleaved_halves_; ++j) {
      const auto k = static_cast<int64_t>(j / 2);
      interleaved_halves_ = source_[j] == (j % 2 == 0 ? k : in_channels_ / 2 + k);
    }
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    const auto out_channels = static_cast<int64_t>(source_.size());
    if (element_ == 4) gather<uint32_t>(inputs[0], outputs[0], out_channels);
    else gather<uint8_t>(inputs[0], outputs[0], out_channels);
    return {};
  }
  std::string implementation() const override { return what_; }

 private:
  template <typename T>
  void gather(const void* in, void* out, int64_t out_channels) const {
    const T* src = static_cast<const T*>(in);
    T* dst = static_cast<T*>(out);
    if (contiguous_) {  // a channel Slice: one run per pixel
      const int64_t first = source_[0];
      for (int64_t p = 0; p < pixels_; ++p) {
        std::memcpy(dst + p * out_channels, src + p * in_channels_ + first, sizeof(T) * source_.size());
      }
      return;
    }
    if (interleaved_halves_) {  // ChannelShuffle with 2 groups: the halves interleaved
      const int64_t half = in_channels_ / 2;
      for (int64_t p = 0; p < pixels_; ++p) {
        const T* a = src + p * in_channels_;
        const T* b = a + half;
        T* to = dst + p * out_channels;
        for (int64_t k = 0; k < half; ++k) {
          to[2 * k] = a[k];
          to[2 * k + 1] = b[k];
        }
      }
      return;
    }
    for (int64_t p = 0; p < pixels_; ++p) {
      const T* pixel = src + p * in_channels_;
      T* to = dst + p * out_channels;
      for (int64_t j = 0; j < out_channels; ++j) to[j] = pixel[source_[static_cast<size_t>(j)]];
    }
  }

  std::vector<int64_t> source_;
  bool contiguous_ = false, interleaved_halves_ = false;
  int64_t in_channels_;
  size_t element_;
  int64_t pixels_;
  std::string what_;
};

StatusOr<std::unique_ptr<FastKernel>> make_channel_shuffle(const Graph& graph, const Node& node) {
  const Value& x = graph.value(node.inputs[0]);
  const int64_t channels = x.shape[1], groups = node.attrs.get_int(kGroupsAttr, 1), per_group = channels / groups;
  std::vector<int64_t> source(static_cast<size_t>(channels));
  for (int64_t i = 0; i < groups; ++i) {
    for (int64_t k = 0; k < per_group; ++k) source[static_cast<size_t>(k * groups + i)] = i * per_group + k;
  }
  return std::unique_ptr<FastKernel>(new ChannelGatherKernel(std::move(source), channels, dtype_size(x.dtype),
                                                             x.shape[0] * x.shape[2] * x.shape[3],
                                                             "kestrel nhwc channel_shuffle"));
}

// The first channel a Slice keeps, when it slices channels only with step 1
// (every other axis kept whole); -1 otherwise.
int64_t channel_slice_start(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.size() < 3) return -1;
  const Shape& in = graph.value(node.inputs[0]).shape;
  const Shape& out = graph.value(node.outputs[0]).shape;
  if (in.size() != 4 || out.size() != 4 || out[0] != in[0] || out[2] != in[2] || out[3] != in[3]) return -1;
  for (size_t i = 1; i < node.inputs.size(); ++i) {
    if (has_input(node, i) && constant_input(graph, node, i) == nullptr) return -1;
  }
  auto ints = [&](size_t i) {
    std::vector<int64_t> values;
    const Tensor* t = constant_input(graph, node, i);
    if (t == nullptr) return values;
    for (int64_t j = 0; j < t->size(); ++j) {
      values.push_back(t->dtype() == DType::kInt32 ? t->data<int32_t>()[j] : t->data<int64_t>()[j]);
    }
    return values;
  };
  const std::vector<int64_t> starts = ints(1), steps = ints(4);
  std::vector<int64_t> axes = ints(3);
  if (!has_input(node, 3))
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (axes.size() != starts.size()) return -1;
  for (int64_t step : steps) {
    if (step != 1) return -1;
  }
  int64_t first = 0;
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] != 1 && axes[i] != -3) continue;
    first = starts[i] < 0 ? starts[i] + in[1] : starts[i];
    first = std::clamp<int64_t>(first, 0, in[1]);
  }
  return first + out[1] <= in[1] ? first : -1;
}

std::string channel_slice_refusal(const Graph& graph, const Node& node) {
  if (node.inputs.empty() || (!is_float_4d(graph, node.inputs[0]) && !is_byte_4d(graph, node.inputs[0])))
    return "data is not a float32, int8 or uint8 4-D tensor";
  if (graph.value(node.inputs[0]).constant) return "data is a constant";
  if (channel_slice_start(graph, node) < 0) return "not a step-1 slice of channels alone with constant bounds";
  return "";
}

StatusOr<std::unique_ptr<FastKernel>> make_channel_slice(const Graph& graph, const Node& node) {
  const Value& x = graph.value(node.inputs[0]);
  const int64_t first = channel_slice_start(graph, node), kept = graph.value(node.outputs[0]).shape[1];
  std::vector<int64_t> source(static_cast<size_t>(kept));
  for (int64_t j = 0; j < kept; ++j) source[static_cast<size_t>(j)] = first + j;
  return std::unique_ptr<FastKernel>(new ChannelGatherKernel(std::move(source), x.shape[1], dtype_size(x.dtype),
                                                             x.shape[0] * x.shape[2] * x.shape[3],
                                                             "kestrel nhwc channel_slice"));
}

// ---- Squeeze-excitation ----

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
  auto activation = activation_from_attributes(node.attrs);
  if (!activation.ok() || (activation->kind != ActivationKind::kNone && activation->kind != ActivationKind::kRelu))
    return "its fused activation is not Relu";
  return "";
}

class ChannelAffineKernel final : public FastKernel {
 public:
  ChannelAffineKernel(const Graph& graph, const Node& node)
      : scale_(*graph.value(node.inputs[1]).constant), shift_(*graph.value(node.inputs[2]).constant) {
    const Value& x = graph.value(node.inputs[0]);
    batch_ = x.shape[0], channels_ = x.shape[1], pixels_ = x.shape[2] * x.shape[3];
    auto activation = activation_from_attributes(node.attrs);
    relu_ = activation.ok() && activation->kind == ActivationKind::kRelu;
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    cpu::channel_affine_f32(static_cast<const float*>(inputs[0]), scale_.data<float>(), shift_.data<float>(),
                            static_cast<float*>(outputs[0]), batch_, pixels_, channels_, relu_);
    return {};
  }
  std::string implementation() const override { return std::string("kestrel channel_affine:") + cpu::kernels_isa(); }

 private:
  Tensor scale_, shift_;  // the graph's constants (shared, not copied)
  int64_t batch_ = 0, channels_ = 0, pixels_ = 0;
  bool relu_ = false;  // a fused Relu
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
  auto activation = activation_from_attributes(node.attrs);
  if (!activation.ok()) return "unknown fused activation";
  if (activation->kind == ActivationKind::kGelu) return "no Gelu epilogue";
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

// ---- LayerNormalization (plain layout: the normalized dims are contiguous) ----

std::string layer_norm_refusal(const Graph& graph, const Node& node) {
  if (node.inputs.empty() || graph.value(node.inputs[0]).dtype != DType::kFloat32) return "X is not float32";
  if (constant_input(graph, node, 1) == nullptr) return "Scale is not a constant";
  if (has_input(node, 2) && constant_input(graph, node, 2) == nullptr) return "B is not a constant";
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (node.outputs[i] != kNoValue) return "it is asked for Mean or InvStdDev";
  }
  return "";
}

class LayerNormKernel final : public FastKernel {
 public:
  LayerNormKernel(const Graph& graph, const Node& node) : scale_(*constant_input(graph, node, 1)) {
    if (const Tensor* bias = constant_input(graph, node, 2)) bias_ = *bias;
    const Shape& x = graph.value(node.inputs[0]).shape;
    const auto rank = static_cast<int64_t>(x.size());
    int64_t axis = node.attrs.get_int("axis", -1);
    if (axis < 0) axis += rank;
    cols_ = 1;
    for (int64_t d = axis; d < rank; ++d) cols_ *= x[static_cast<size_t>(d)];
    rows_ = shape_size(x) / std::max<int64_t>(cols_, 1);
    epsilon_ = node.attrs.get_float("epsilon", 1e-5f);
  }
  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    const Args args{this, static_cast<const float*>(inputs[0]), static_cast<float*>(outputs[0])};
    cpu::parallel_for(rows_, run_rows, &args, cpu::max_threads());
    return {};
  }
  std::string implementation() const override { return std::string("kestrel layer_norm:") + cpu::kernels_isa(); }

 private:
  struct Args {
    const LayerNormKernel* self;
    const float* src;
    float* dst;
  };
  static void run_rows(const void* context, int /*thread*/, int64_t begin, int64_t end) {
    const auto* args = static_cast<const Args*>(context);
    const LayerNormKernel& k = *args->self;
    const int64_t offset = begin * k.cols_;
    cpu::layer_norm_f32(args->src + offset, k.scale_.data<float>(), k.bias_ ? k.bias_->data<float>() : nullptr,
                        args->dst + offset, end - begin, k.cols_, k.epsilon_);
  }

  Tensor scale_;  // the graph's constants (shared, not copied)
  std::optional<Tensor> bias_;
  int64_t rows_ = 0, cols_ = 1;
  float epsilon_ = 1e-5f;
};

StatusOr<std::unique_ptr<FastKernel>> make_layer_norm(const Graph& graph, const Node& node) {
  return std::unique_ptr<FastKernel>(new LayerNormKernel(graph, node));
}

// ---- PreprocessFrame: raw frames to the model input, one pass per frame ----

std::string preprocess_frame_refusal(const Graph& graph, const Node& node) {
  if (node.inputs.size() != 1 || node.outputs.size() != 1 || !has_input(node, 0)) return "not PreprocessFrame(X)";
  auto stage = read_frame_stage(node, graph.value(node.inputs[0]).shape);
  return stage.ok() ? std::string() : stage.status().message();
}

class PreprocessFrameKernel final : public FastKernel {
 public:
  explicit PreprocessFrameKernel(FrameStage stage)
      : stage_(std::move(stage)), scratch_(static_cast<size_t>(frame_scratch_bytes(stage_.frame))) {
    frame_bytes_ = frame_bytes(stage_.frame);
    output_bytes_ = shape_size(stage_.output_shape) / std::max<int64_t>(stage_.batch, 1) *
                    static_cast<int64_t>(dtype_size(stage_.output.dtype));
  }

  Status run(const std::vector<const void*>& inputs, const std::vector<void*>& outputs) override {
    const auto* frames = static_cast<const uint8_t*>(inputs[0]);
    auto* out = static_cast<uint8_t*>(outputs[0]);
    for (int64_t n = 0; n < stage_.batch; ++n) {
      KESTREL_RETURN_IF_ERROR(preprocess_frame(stage_.frame, stage_.spec, frames + n * frame_bytes_, scratch_.data(),
                                               stage_.output, out + n * output_bytes_));
    }
    return {};
  }
  std::string implementation() const override { return "kestrel_preprocess_frame"; }

 private:
  FrameStage stage_;
  std::vector<uint8_t> scratch_;  // decoded pixels, for frames that are not H x W x C grey or RGB
  int64_t frame_bytes_ = 0, output_bytes_ = 0;
};

StatusOr<std::unique_ptr<FastKernel>> make_preprocess_frame(const Graph& graph, const Node& node) {
  KESTREL_ASSIGN_OR_RETURN(FrameStage stage, read_frame_stage(node, graph.value(node.inputs[0]).shape));
  return std::unique_ptr<FastKernel>(new PreprocessFrameKernel(std::move(stage)));
}

}  // namespace

const Implementation kPreprocessFrame{.name = "kestrel_preprocess_frame",
                                      .refusal = preprocess_frame_refusal,
                                      .layout = Layout::kPlain,
                                      .create = make_preprocess_frame};
const Implementation kLayerNorm{
    .name = "kestrel_layer_norm", .refusal = layer_norm_refusal, .layout = Layout::kPlain, .create = make_layer_norm};
const Implementation kDepthwiseInt8{.name = "kestrel_depthwise_int8",
                                    .refusal = depthwise_int8_refusal,
                                    .layout = Layout::kNhwc,
                                    .create = make_depthwise_int8};
const Implementation kNhwcConcat{
    .name = "kestrel_nhwc_concat", .refusal = concat_refusal, .layout = Layout::kNhwc, .create = make_concat};
const Implementation kNhwcChannelShuffle{.name = "kestrel_channel_shuffle",
                                         .refusal = channel_shuffle_refusal,
                                         .layout = Layout::kNhwc,
                                         .create = make_channel_shuffle};
const Implementation kNhwcChannelSlice{.name = "kestrel_channel_slice",
                                       .refusal = channel_slice_refusal,
                                       .layout = Layout::kNhwc,
                                       .create = make_channel_slice};
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
