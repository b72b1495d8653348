// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool. Every window is
// computed on a 3-D view (1-D and 2-D get leading unit dims).
#include <limits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

using nn::node_error;
using nn::Window;

Status pool_geometry(const Node& node, const Shape& x, bool is_max, Window* window) {
  if (x.size() < 3) return node_error(node, "input X must have rank >= 3 (N, C, spatial...), got ", shape_string(x));
  if (x.size() > 5) return unimplemented(node.label(), ": pooling over more than 3 spatial dims is not supported");
  if (!node.attrs.has("kernel_shape")) return node_error(node, "attribute kernel_shape is required");
  const std::vector<int64_t> kernel = node.attrs.get_ints("kernel_shape");
  if (kernel.size() != x.size() - 2) {
    return node_error(node, "attribute kernel_shape has ", kernel.size(), " dims but X ", shape_string(x), " has ",
                      x.size() - 2, " spatial dims");
  }
  const std::vector<int64_t> spatial(x.begin() + 2, x.end());
  KESTREL_RETURN_IF_ERROR(
      nn::compute_window(node, spatial, kernel, {.allow_dilations = is_max, .allow_ceil_mode = true}, window));
  // A pad as large as the kernel would allow windows that see no input at all.
  for (size_t i = 0; i < kernel.size(); ++i) {
    const int64_t extent = (kernel[i] - 1) * window->dilations[i] + 1;
    if (window->pads_begin[i] >= extent || window->pads_end[i] >= extent) {
      return node_error(node, "pads of spatial dim ", i, " must be smaller than the kernel extent ", extent);
    }
  }
  return {};
}

Status check_flag(const InferContext& ctx, const char* name) {
  const int64_t value = ctx.attrs().get_int(name, 0);
  if (value != 0 && value != 1) return ctx.error("attribute ", name, " must be 0 or 1, got ", value);
  return {};
}

Status infer_pool(InferContext& ctx, bool is_max) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const DType dtype = ctx.input_dtype(0);
  const bool bytes_ok = is_max && (dtype == DType::kInt8 || dtype == DType::kUInt8);
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && !bytes_ok) {
    return unimplemented(ctx.node().label(), ": element type ", dtype_name(dtype), " is not supported");
  }
  KESTREL_RETURN_IF_ERROR(check_flag(ctx, is_max ? "storage_order" : "count_include_pad"));
  const Shape& x = ctx.input_shape(0);
  Window window;
  KESTREL_RETURN_IF_ERROR(pool_geometry(ctx.node(), x, is_max, &window));
  Shape y = {x[0], x[1]};
  y.insert(y.end(), window.out.begin(), window.out.end());
  ctx.set_output(0, dtype, y);
  if (is_max) ctx.set_output(1, DType::kInt64, y);
  return {};
}

Status infer_max_pool(InferContext& ctx) { return infer_pool(ctx, true); }
Status infer_average_pool(InferContext& ctx) { return infer_pool(ctx, false); }

// Max over one [D, H, W] plane. `indices` (optional) receives the flat
// index of each maximum in the whole input, row- or column-major.
template <typename T>
void max_pool_plane(const T* src, const Window& w, int64_t index_base, bool column_major, T* dst, int64_t* indices) {
  const int64_t in_d = w.in[0], in_h = w.in[1], in_w = w.in[2];
  for (int64_t oz = 0; oz < w.out[0]; ++oz) {
    for (int64_t oy = 0; oy < w.out[1]; ++oy) {
      for (int64_t ox = 0; ox < w.out[2]; ++ox) {
        T best = std::numeric_limits<T>::lowest();
        int64_t best_z = -1, best_y = 0, best_x = 0;
        for (int64_t kz = 0; kz < w.kernel[0]; ++kz) {
          const int64_t iz = oz * w.strides[0] - w.pads_begin[0] + kz * w.dilations[0];
          if (iz < 0 || iz >= in_d) continue;
          for (int64_t ky = 0; ky < w.kernel[1]; ++ky) {
            const int64_t iy = oy * w.strides[1] - w.pads_begin[1] + ky * w.dilations[1];
            if (iy < 0 || iy >= in_h) continue;
            const T* row = src + (iz * in_h + iy) * in_w;
            for (int64_t kx = 0; kx < w.kernel[2]; ++kx) {
              const int64_t ix = ox * w.strides[2] - w.pads_begin[2] + kx * w.dilations[2];
              if (ix < 0 || ix >= in_w || (best_z >= 0 && !(row[ix] > best))) continue;
              best = row[ix];
              best_z = iz, best_y = iy, best_x = ix;
            }
          }
        }
        *dst++ = best;
        if (indices == nullptr) continue;
        const int64_t flat =
            column_major ? best_z + in_d * (best_y + in_h * best_x) : (best_z * in_h + best_y) * in_w + best_x;
        *indices++ = index_base + flat;
      }
    }
  }
}

template <typename T>
Status max_pool_kernel(KernelContext& ctx, const Window& window) {
  const Tensor& x = ctx.input(0);
  const Window w = nn::window_as_3d(window);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t in_size = w.in[0] * w.in[1] * w.in[2], out_size = w.out[0] * w.out[1] * w.out[2];
  const bool column_major = ctx.attrs().get_int("storage_order", 0) == 1;
  const bool want_indices = ctx.num_outputs() > 1 && nn::has_output(ctx.node(), 1);
  for (int64_t p = 0; p < planes; ++p) {
    int64_t* indices = want_indices ? ctx.output(1).data<int64_t>() + p * out_size : nullptr;
    max_pool_plane(x.data<T>() + p * in_size, w, p * in_size, column_major, ctx.output(0).data<T>() + p * out_size,
                   indices);
  }
  return {};
}

Status run_max_pool(KernelContext& ctx) {
  Window window;
  KESTREL_RETURN_IF_ERROR(pool_geometry(ctx.node(), ctx.input(0).shape(), true, &window));
  const DType dtype = ctx.input(0).dtype();
  if (dtype == DType::kInt8) return max_pool_kernel<int8_t>(ctx, window);
  if (dtype == DType::kUInt8) return max_pool_kernel<uint8_t>(ctx, window);
  return dispatch_float(dtype, [&](auto tag) { return max_pool_kernel<decltype(tag)>(ctx, window); });
}

// Clipped window along one dim: [begin, end) inside the input and the
// extent inside the padded input (ceil_mode overhang excluded).
struct Span {
  int64_t begin, end, padded;
};

Span window_span(const Window& w, size_t dim, int64_t out_index) {
  const int64_t start = out_index * w.strides[dim] - w.pads_begin[dim];
  const int64_t stop = start + w.kernel[dim];
  const int64_t padded = std::min(stop, w.in[dim] + w.pads_end[dim]) - start;
  return {std::max<int64_t>(start, 0), std::min(stop, w.in[dim]), padded};
}

template <typename T>
void average_pool_plane(const T* src, const Window& w, bool count_include_pad, T* dst) {
  const int64_t in_h = w.in[1], in_w = w.in[2];
  for (int64_t oz = 0; oz < w.out[0]; ++oz) {
    const Span z = window_span(w, 0, oz);
    for (int64_t oy = 0; oy < w.out[1]; ++oy) {
      const Span y = window_span(w, 1, oy);
      for (int64_t ox = 0; ox < w.out[2]; ++ox) {
        const Span x = window_span(w, 2, ox);
        T sum = 0;
        for (int64_t iz = z.begin; iz < z.end; ++iz) {
          for (int64_t iy = y.begin; iy < y.end; ++iy) {
            const T* row = src + (iz * in_h + iy) * in_w;
            for (int64_t ix = x.begin; ix < x.end; ++ix) sum += row[ix];
          }
        }
        const int64_t count = count_include_pad ? z.padded * y.padded * x.padded
                                                : (z.end - z.begin) * (y.end - y.begin) * (x.end - x.begin);
        *dst++ = sum / static_cast<T>(count);
      }
    }
  }
}

template <typename T>
Status average_pool_kernel(KernelContext& ctx, const Window& window) {
  const Tensor& x = ctx.input(0);
  const Window w = nn::window_as_3d(window);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t in_size = w.in[0] * w.in[1] * w.in[2], out_size = w.out[0] * w.out[1] * w.out[2];
  const bool count_include_pad = ctx.attrs().get_int("count_include_pad", 0) == 1;
  for (int64_t p = 0; p < planes; ++p) {
    average_pool_plane(x.data<T>() + p * in_size, w, count_include_pad, ctx.output(0).data<T>() + p * out_size);
  }
  return {};
}

Status run_average_pool(KernelContext& ctx) {
  Window window;
  KESTREL_RETURN_IF_ERROR(pool_geometry(ctx.node(), ctx.input(0).shape(), false, &window));
  return dispatch_float(ctx.input(0).dtype(),
                        [&](auto tag) { return average_pool_kernel<decltype(tag)>(ctx, window); });
}

// ---- Global pools ----

Status infer_global_pool(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const DType dtype = ctx.input_dtype(0);
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64) {
    return unimplemented(ctx.node().label(), ": element type ", dtype_name(dtype), " is not supported");
  }
  const Shape& x = ctx.input_shape(0);
  if (x.size() < 3) return ctx.error("input X must have rank >= 3 (N, C, spatial...), got ", shape_string(x));
  Shape y(x.size(), 1);
  y[0] = x[0];
  y[1] = x[1];
  ctx.set_output(0, dtype, y);
  return {};
}

template <typename T, bool kIsMax>
Status global_pool_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t size = nn::dims_product(x.shape(), 2, x.rank());
  for (int64_t p = 0; p < planes; ++p) {
    const T* src = x.data<T>() + p * size;
    T acc = kIsMax ? std::numeric_limits<T>::lowest() : T(0);
    for (int64_t i = 0; i < size; ++i) acc = kIsMax ? std::max(acc, src[i]) : acc + src[i];
    ctx.output(0).data<T>()[p] = kIsMax ? acc : acc / static_cast<T>(size);
  }
  return {};
}

template <bool kIsMax>
Status run_global_pool(KernelContext& ctx) {
  return dispatch_float(ctx.input(0).dtype(), [&](auto tag) { return global_pool_kernel<decltype(tag), kIsMax>(ctx); });
}

}  // namespace

void register_pool_ops(OpRegistry& registry) {
  registry.add({"MaxPool", infer_max_pool, run_max_pool});
  registry.add({"AveragePool", infer_average_pool, run_average_pool});
  registry.add({"GlobalAveragePool", infer_global_pool, run_global_pool<false>});
  registry.add({"GlobalMaxPool", infer_global_pool, run_global_pool<true>});
}

}  // namespace kestrel
