// BatchNormalization, inference form only; LayerNormalization (opset 17).
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

Status infer_batch_norm(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(5, 5));
  const Node& node = ctx.node();
  if (ctx.attrs().get_int("training_mode", 0) != 0) {
    return unimplemented(node.label(), ": training_mode=1 is not supported (inference only)");
  }
  // Before opset 14, asking for outputs 1-4 (running and saved statistics)
  // means training, which is not implemented. From 14 on, outputs 1-2 are
  // only defined with training_mode=1, so asking for them is invalid.
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    if (!nn::has_output(node, i)) continue;
    if (ctx.opset() < 14) {
      return unimplemented(node.label(), ": optional output ", i, " (training statistics) is not supported");
    }
    return ctx.error("optional output ", i, " is only produced with training_mode=1");
  }
  const DType dtype = ctx.input_dtype(0);
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64) {
    return unimplemented(node.label(), ": element type ", dtype_name(dtype), " is not supported");
  }
  const Shape& x = ctx.input_shape(0);
  if (x.size() < 2) return ctx.error("input X must have rank >= 2 (N, C, ...), got ", shape_string(x));
  static const char* const kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) {
    if (ctx.input_dtype(i) != dtype) {
      return ctx.error("input ", kNames[i], " has element type ", dtype_name(ctx.input_dtype(i)), ", expected ",
                       dtype_name(dtype));
    }
    const Shape& s = ctx.input_shape(i);
    if (s.size() != 1 || (s[0] >= 0 && x[1] >= 0 && s[0] != x[1])) {
      return ctx.error("input ", kNames[i], " ", shape_string(s), " must be 1-D with ", x[1],
                       " elements (channels of X ", shape_string(x), ")");
    }
  }
  ctx.set_output(0, dtype, x);
  return {};
}

template <typename T>
Status batch_norm_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const T* scale = ctx.input(1).data<T>();
  const T* bias = ctx.input(2).data<T>();
  const T* mean = ctx.input(3).data<T>();
  const T* var = ctx.input(4).data<T>();
  const T epsilon = static_cast<T>(ctx.attrs().get_float("epsilon", 1e-5f));
  const int64_t batch = x.dim(0), channels = x.dim(1);
  const int64_t inner = nn::dims_product(x.shape(), 2, x.rank());
  const T* src = x.data<T>();
  T* dst = ctx.output(0).data<T>();
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      // y = (x - mean) / sqrt(var + eps) * scale + B, folded into y = x * a + b.
      const T a = scale[c] / std::sqrt(var[c] + epsilon);
      const T b = bias[c] - mean[c] * a;
      const int64_t base = (n * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) dst[base + i] = src[base + i] * a + b;
    }
  }
  return {};
}

Status run_batch_norm(KernelContext& ctx) {
  return dispatch_float(ctx.input(0).dtype(), [&](auto tag) { return batch_norm_kernel<decltype(tag)>(ctx); });
}

// ---- LayerNormalization: X viewed as [rows, cols], cols the product of the
// dims from `axis` on; each row normalized, then scaled and shifted. ----

StatusOr<int64_t> layer_norm_axis(const InferContext& ctx) {
  const auto rank = static_cast<int64_t>(ctx.input_shape(0).size());
  int64_t axis = ctx.attrs().get_int("axis", -1);
  if (axis < -rank || axis >= rank) return ctx.error("axis ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

Status infer_layer_norm(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 3));
  const Node& node = ctx.node();
  if (ctx.input_dtype(0) != DType::kFloat32) {
    return unimplemented(node.label(), ": element type ", dtype_name(ctx.input_dtype(0)), " is not supported");
  }
  if (ctx.attrs().get_int("stash_type", 1) != 1) return unimplemented(node.label(), ": stash_type other than 1");
  const Shape& x = ctx.input_shape(0);
  if (x.empty()) return ctx.error("input X must have rank >= 1");
  KESTREL_ASSIGN_OR_RETURN(const int64_t axis, layer_norm_axis(ctx));
  const int64_t cols = nn::dims_product(x, axis, static_cast<int64_t>(x.size()));
  static const char* const kNames[] = {"X", "Scale", "B"};
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input_dtype(i) != DType::kFloat32) return ctx.error("input ", kNames[i], " must be float32");
    if (shape_size(ctx.input_shape(i)) != cols) {
      return ctx.error("input ", kNames[i], " ", shape_string(ctx.input_shape(i)), " must hold the ", cols,
                       " elements of the normalized dims of X ", shape_string(x));
    }
  }
  ctx.set_output(0, DType::kFloat32, x);
  Shape stats = x;
  for (size_t d = static_cast<size_t>(axis); d < stats.size(); ++d) stats[d] = 1;
  for (size_t i = 1; i < 3 && i < node.outputs.size(); ++i) {
    if (nn::has_output(node, i)) ctx.set_output(i, DType::kFloat32, stats);
  }
  return {};
}

Status run_layer_norm(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  int64_t axis = ctx.attrs().get_int("axis", -1);
  if (axis < 0) axis += rank;
  const int64_t cols = nn::dims_product(x.shape(), axis, rank), rows = x.size() / std::max<int64_t>(cols, 1);
  const float epsilon = ctx.attrs().get_float("epsilon", 1e-5f);
  const float* scale = ctx.input(1).data<float>();
  const float* bias = ctx.has_input(2) ? ctx.input(2).data<float>() : nullptr;
  float* mean_out = ctx.has_output(1) ? ctx.output(1).data<float>() : nullptr;
  float* inv_out = ctx.has_output(2) ? ctx.output(2).data<float>() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = x.data<float>() + r * cols;
    float* dst = ctx.output(0).data<float>() + r * cols;
    float sum = 0.0f;
    for (int64_t c = 0; c < cols; ++c) sum += src[c];
    const float mean = sum / static_cast<float>(cols);
    float squares = 0.0f;
    for (int64_t c = 0; c < cols; ++c) squares += (src[c] - mean) * (src[c] - mean);
    const float inv = 1.0f / std::sqrt(squares / static_cast<float>(cols) + epsilon);
    for (int64_t c = 0; c < cols; ++c) dst[c] = (src[c] - mean) * inv * scale[c] + (bias ? bias[c] : 0.0f);
    if (mean_out) mean_out[r] = mean;
    if (inv_out) inv_out[r] = inv;
  }
  return {};
}

}  // namespace

void register_normalization_ops(OpRegistry& registry) {
  registry.add({"BatchNormalization", infer_batch_norm, run_batch_norm});
  registry.add({"LayerNormalization", infer_layer_norm, run_layer_norm});
}

}  // namespace kestrel
