// Conv: im2col per image and group, then the shared i-k-j GEMM.
#include <vector>

#include "base/checked_math.h"

#include "kernels/dispatch.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

using nn::node_error;
using nn::Window;

// Checks X [N, C, D...], W [M, C/group, K...] and computes the window.
Status conv_geometry(const Node& node, const Shape& x, const Shape& w, Window* window) {
  if (x.size() < 3) return node_error(node, "input X must have rank >= 3 (N, C, spatial...), got ", shape_string(x));
  if (w.size() != x.size()) {
    return node_error(node, "weight W ", shape_string(w), " must have the same rank as X ", shape_string(x));
  }
  if (x.size() > 5) return unimplemented(node.label(), ": Conv with more than 3 spatial dims is not supported");
  const int64_t group = node.attrs.get_int("group", 1);
  if (group < 1) return node_error(node, "attribute group must be >= 1, got ", group);
  if (w[0] >= 0 && w[0] % group != 0) {
    return node_error(node, "output channels ", w[0], " of W are not divisible by group ", group);
  }
  const auto expected_channels = checked_mul(w[1], group);
  if (x[1] >= 0 && w[1] >= 0 && (!expected_channels || x[1] != *expected_channels)) {
    return node_error(
        node, "X has ", x[1], " channels but W ", shape_string(w), " with group ", group, " expects ",
        expected_channels ? str_cat(*expected_channels) : std::string("more than 64-bit sizes can count"));
  }
  const std::vector<int64_t> w_kernel(w.begin() + 2, w.end());
  std::vector<int64_t> kernel = node.attrs.get_ints("kernel_shape", w_kernel);
  if (kernel.size() != w_kernel.size()) {
    return node_error(node, "attribute kernel_shape has ", kernel.size(), " dims, expected ", w_kernel.size());
  }
  for (size_t i = 0; i < kernel.size(); ++i) {
    if (w_kernel[i] >= 0 && kernel[i] != w_kernel[i]) {
      return node_error(node, "attribute kernel_shape does not match the spatial dims of W ", shape_string(w));
    }
  }
  const std::vector<int64_t> spatial(x.begin() + 2, x.end());
  if (std::any_of(kernel.begin(), kernel.end(), [](int64_t k) { return k < 0; })) {
    // Kernel unknown until run time: so are the output dims.
    window->out.assign(spatial.size(), -1);
    return {};
  }
  return nn::compute_window(node, spatial, kernel, {.allow_dilations = true, .allow_ceil_mode = false}, window);
}

Status infer_conv(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 3));
  const DType dtype = ctx.input_dtype(0);
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64) {
    return unimplemented(ctx.node().label(), ": element type ", dtype_name(dtype), " is not supported");
  }
  const size_t last = ctx.has_input(2) ? 2 : 1;
  for (size_t i = 1; i <= last; ++i) {
    if (ctx.input_dtype(i) != dtype) {
      return ctx.error("input ", i, " has element type ", dtype_name(ctx.input_dtype(i)), ", expected ",
                       dtype_name(dtype));
    }
  }
  const Shape& x = ctx.input_shape(0);
  const Shape& w = ctx.input_shape(1);
  Window window;
  KESTREL_RETURN_IF_ERROR(conv_geometry(ctx.node(), x, w, &window));
  if (ctx.has_input(2)) {
    const Shape& b = ctx.input_shape(2);
    if (b.size() != 1 || (b[0] >= 0 && w[0] >= 0 && b[0] != w[0])) {
      return ctx.error("bias B ", shape_string(b), " must be 1-D with ", w[0], " elements");
    }
  }
  Shape y = {x[0], w[0]};
  y.insert(y.end(), window.out.begin(), window.out.end());
  ctx.set_output(0, dtype, y);
  return {};
}

// Copies the inputs seen by kernel column `kx` along one output row,
// zero where the window lies in the padding.
template <typename T>
void im2col_row(const T* src_row, int64_t in_w, const Window& w, int64_t kx, T* dst) {
  const int64_t offset = kx * w.dilations[2] - w.pads_begin[2];
  for (int64_t ox = 0; ox < w.out[2]; ++ox) {
    const int64_t ix = ox * w.strides[2] + offset;
    dst[ox] = (ix >= 0 && ix < in_w) ? src_row[ix] : T(0);
  }
}

// col[(c, kz, ky, kx), (oz, oy, ox)] = src[c, oz*sz - pz + kz*dz, ...], 3-D window.
template <typename T>
void im2col_3d(const T* src, int64_t channels, const Window& w, T* col) {
  const int64_t in_d = w.in[0], in_h = w.in[1], in_w = w.in[2];
  T* dst = col;
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = src + c * in_d * in_h * in_w;
    for (int64_t kz = 0; kz < w.kernel[0]; ++kz) {
      for (int64_t ky = 0; ky < w.kernel[1]; ++ky) {
        for (int64_t kx = 0; kx < w.kernel[2]; ++kx) {
          for (int64_t oz = 0; oz < w.out[0]; ++oz) {
            const int64_t iz = oz * w.strides[0] - w.pads_begin[0] + kz * w.dilations[0];
            for (int64_t oy = 0; oy < w.out[1]; ++oy, dst += w.out[2]) {
              const int64_t iy = oy * w.strides[1] - w.pads_begin[1] + ky * w.dilations[1];
              if (iz < 0 || iz >= in_d || iy < 0 || iy >= in_h) {
                std::fill(dst, dst + w.out[2], T(0));
              } else {
                im2col_row(plane + (iz * in_h + iy) * in_w, in_w, w, kx, dst);
              }
            }
          }
        }
      }
    }
  }
}

// A 1x1 kernel with unit strides and no pads reads the input as it is.
bool is_pointwise(const Window& w) {
  for (size_t i = 0; i < w.kernel.size(); ++i) {
    if (w.kernel[i] != 1 || w.strides[i] != 1 || w.pads_begin[i] != 0 || w.pads_end[i] != 0) return false;
  }
  return true;
}

template <typename T>
Status conv_kernel(KernelContext& ctx, const Window& window) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  Tensor& y = ctx.output(0);
  const Window w3 = nn::window_as_3d(window);
  const int64_t group = ctx.attrs().get_int("group", 1);
  const int64_t batch = x.dim(0), channels = x.dim(1), filters = w.dim(0);
  const int64_t group_channels = channels / group, group_filters = filters / group;
  const int64_t in_size = w3.in[0] * w3.in[1] * w3.in[2];
  const int64_t out_size = w3.out[0] * w3.out[1] * w3.out[2];
  const int64_t depth = group_channels * w3.kernel[0] * w3.kernel[1] * w3.kernel[2];
  const bool pointwise = is_pointwise(w3);
  std::vector<T> col(pointwise ? 0 : static_cast<size_t>(depth * out_size));
  const T* bias = ctx.has_input(2) ? ctx.input(2).data<T>() : nullptr;
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t g = 0; g < group; ++g) {
      const T* src = x.data<T>() + (n * channels + g * group_channels) * in_size;
      T* dst = y.data<T>() + (n * filters + g * group_filters) * out_size;
      for (int64_t m = 0; m < group_filters; ++m) {
        std::fill(dst + m * out_size, dst + (m + 1) * out_size, bias ? bias[g * group_filters + m] : T(0));
      }
      const T* cols = src;
      if (!pointwise) {
        im2col_3d(src, group_channels, w3, col.data());
        cols = col.data();
      }
      const T* weights = w.data<T>() + g * group_filters * depth;
      nn::gemm_accumulate(group_filters, out_size, depth, weights, depth, cols, out_size, dst, out_size);
    }
  }
  return {};
}

Status run_conv(KernelContext& ctx) {
  Window window;
  KESTREL_RETURN_IF_ERROR(conv_geometry(ctx.node(), ctx.input(0).shape(), ctx.input(1).shape(), &window));
  return dispatch_float(ctx.input(0).dtype(), [&](auto tag) { return conv_kernel<decltype(tag)>(ctx, window); });
}

}  // namespace

void register_conv_ops(OpRegistry& registry) { registry.add({"Conv", infer_conv, run_conv}); }

}  // namespace kestrel
