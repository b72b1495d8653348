// Resize, opsets 11-17: roi, scales and sizes inputs; nearest, linear and
// cubic modes. N-d resizing runs as successive 1-D passes, one per axis that
// changes: every interpolation here is separable, so this equals the ONNX
// definition, and each pass precomputes its source taps once per output index.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/dispatch.h"
#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

// Output lengths at or above this (2^62) cannot be stored as an int64 dim
// with room for the element count: refused before the cast.
constexpr double kMaxResizedLength = 4611686018427387904.0;

enum class Interp { kNearest, kLinear, kCubic };
enum class Coord { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfCropAndResize, kTfHalfPixelForNn };
enum class Rounding { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

struct ResizeParams {
  Interp interp = Interp::kNearest;
  Coord coord = Coord::kHalfPixel;
  Rounding rounding = Rounding::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
};

template <typename E>
bool lookup(const std::string& name, std::initializer_list<std::pair<const char*, E>> table, E* out) {
  for (const auto& [key, value] : table) {
    if (name == key) {
      *out = value;
      return true;
    }
  }
  return false;
}

// Errors carry no node label; callers add it.
Status parse_params(const Attributes& attrs, ResizeParams* p) {
  const std::string mode = attrs.get_string("mode", "nearest");
  if (!lookup<Interp>(mode, {{"nearest", Interp::kNearest}, {"linear", Interp::kLinear}, {"cubic", Interp::kCubic}},
                      &p->interp)) {
    return invalid_argument("mode must be nearest, linear or cubic, got '", mode, "'");
  }
  const std::string coord = attrs.get_string("coordinate_transformation_mode", "half_pixel");
  if (!lookup<Coord>(coord,
                     {{"half_pixel", Coord::kHalfPixel},
                      {"pytorch_half_pixel", Coord::kPytorchHalfPixel},
                      {"align_corners", Coord::kAlignCorners},
                      {"asymmetric", Coord::kAsymmetric},
                      {"tf_crop_and_resize", Coord::kTfCropAndResize},
                      {"tf_half_pixel_for_nn", Coord::kTfHalfPixelForNn}},
                     &p->coord)) {
    return invalid_argument("unknown coordinate_transformation_mode '", coord, "'");
  }
  const std::string rounding = attrs.get_string("nearest_mode", "round_prefer_floor");
  if (!lookup<Rounding>(rounding,
                        {{"round_prefer_floor", Rounding::kRoundPreferFloor},
                         {"round_prefer_ceil", Rounding::kRoundPreferCeil},
                         {"floor", Rounding::kFloor},
                         {"ceil", Rounding::kCeil}},
                        &p->rounding)) {
    return invalid_argument("unknown nearest_mode '", rounding, "'");
  }
  p->cubic_a = attrs.get_float("cubic_coeff_a", -0.75f);
  p->exclude_outside = attrs.get_int("exclude_outside", 0) != 0;
  p->extrapolation = attrs.get_float("extrapolation_value", 0.0f);
  return {};
}

// Output shape plus, per axis, the scale and the (possibly fractional)
// resized length that the coordinate transforms use.
struct ResizeGeometry {
  Shape out;
  std::vector<double> scales;
  std::vector<double> resized_lengths;
};

bool input_is_nonempty(const InferContext& ctx, size_t i) {
  return ctx.has_input(i) && shape_size(ctx.input_shape(i)) != 0;
}

// With tf_crop_and_resize the output covers only the roi: in * roi extent * scale.
Status geometry_from_scales(const InferContext& ctx, bool crop, ResizeGeometry* g) {
  const Shape& in = ctx.input_shape(0);
  const Tensor* scales = ctx.input_data(2);
  if (scales == nullptr) return not_constant_error(ctx, 2);
  const Tensor* roi = crop ? ctx.input_data(1) : nullptr;
  if (crop && roi == nullptr) return not_constant_error(ctx, 1);
  const DType dtype = scales->dtype();
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kFloat16) {
    return ctx.error("scales (input 2) must be float, got ", dtype_name(dtype));
  }
  if (scales->rank() != 1 || scales->size() != static_cast<int64_t>(in.size())) {
    return ctx.error("scales has shape ", shape_string(scales->shape()), ", expected [", in.size(), "]");
  }
  for (size_t k = 0; k < in.size(); ++k) {
    const double scale = scales->float_at(static_cast<int64_t>(k));
    if (!(scale > 0)) return ctx.error("scales[", k, "] is ", scale, "; scales must be positive");
    g->scales.push_back(scale);
    const auto i = static_cast<int64_t>(k);
    const double extent = crop ? roi->float_at(i + static_cast<int64_t>(in.size())) - roi->float_at(i) : 1.0;
    // The ONNX reference keeps the unrounded length for the transforms.
    g->resized_lengths.push_back(scale * static_cast<double>(in[k]) * extent);
    if (!(g->resized_lengths.back() < kMaxResizedLength)) {
      return ctx.error("scales[", k, "] = ", scale, " makes axis ", k, " larger than 64-bit sizes can count");
    }
    g->out.push_back(in[k] < 0 ? -1 : static_cast<int64_t>(std::floor(g->resized_lengths.back())));
    if (g->out.back() < -1 || (in[k] >= 0 && g->out.back() < 0)) {
      return ctx.error("roi ", k, " ends before it starts, giving a negative output dim");
    }
  }
  return {};
}

Status geometry_from_sizes(const InferContext& ctx, ResizeGeometry* g) {
  const Shape& in = ctx.input_shape(0);
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 3, "sizes"));
  std::vector<int64_t> sizes;
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 3, "sizes", &sizes));
  if (sizes.size() != in.size()) {
    return ctx.error("sizes has ", sizes.size(), " entries but the input has rank ", in.size());
  }
  for (size_t k = 0; k < in.size(); ++k) {
    if (sizes[k] < 0) return ctx.error("sizes ", shape_string(sizes), " has a negative entry");
    if (in[k] == 0 && sizes[k] > 0) return ctx.error("cannot resize the empty axis ", k, " to ", sizes[k]);
    g->out.push_back(sizes[k]);
    g->resized_lengths.push_back(static_cast<double>(sizes[k]));
    g->scales.push_back(in[k] > 0 ? static_cast<double>(sizes[k]) / static_cast<double>(in[k]) : 1.0);
  }
  return {};
}

Status resize_geometry(const InferContext& ctx, bool crop, ResizeGeometry* g) {
  const bool has_scales = input_is_nonempty(ctx, 2);
  const bool has_sizes = input_is_nonempty(ctx, 3);
  if (has_scales == has_sizes) return ctx.error("exactly one of scales and sizes must be given (non-empty)");
  return has_scales ? geometry_from_scales(ctx, crop, g) : geometry_from_sizes(ctx, g);
}

Status infer_resize(InferContext& ctx) {
  if (ctx.opset() < 11) return unimplemented(ctx.node().label(), ": Resize before opset 11 is not supported");
  // Before opset 13, roi and scales are required inputs (possibly empty).
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(ctx.opset() >= 13 ? 1 : 3, 4));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  ResizeParams params;
  const Status parsed = parse_params(ctx.attrs(), &params);
  if (!parsed.ok()) return ctx.error(parsed.message());
  const DType dtype = ctx.input_dtype(0);
  if (params.interp != Interp::kNearest && dtype != DType::kFloat32 && dtype != DType::kFloat64 &&
      dtype != DType::kFloat16) {
    return unimplemented(ctx.node().label(), ": ", ctx.attrs().get_string("mode", ""), " Resize of element type ",
                         dtype_name(dtype), " is not supported (float types only)");
  }
  const size_t rank = ctx.input_shape(0).size();
  if (params.coord == Coord::kTfCropAndResize) {
    if (!ctx.has_input(1)) return ctx.error("tf_crop_and_resize needs the roi input");
    if (shape_size(ctx.input_shape(1)) != static_cast<int64_t>(2 * rank)) {
      return ctx.error("roi has shape ", shape_string(ctx.input_shape(1)), ", expected [", 2 * rank, "]");
    }
  }
  ResizeGeometry geometry;
  KESTREL_RETURN_IF_ERROR(resize_geometry(ctx, params.coord == Coord::kTfCropAndResize, &geometry));
  ctx.set_output(0, dtype, std::move(geometry.out));
  return {};
}

// Source positions and weights for one output index along one axis.
struct Taps {
  int64_t index[4] = {0, 0, 0, 0};
  double weight[4] = {0, 0, 0, 0};
  int count = 0;
  bool outside = false;  // tf_crop_and_resize beyond the input: extrapolation value
};

struct AxisGeometry {
  int64_t in_len, out_len;
  double scale, resized_len, roi_start, roi_end;
};

double original_coord(Coord coord, double x, const AxisGeometry& a) {
  const double in_last = static_cast<double>(a.in_len - 1);
  switch (coord) {
    case Coord::kHalfPixel: return (x + 0.5) / a.scale - 0.5;
    case Coord::kPytorchHalfPixel: return a.resized_len > 1 ? (x + 0.5) / a.scale - 0.5 : 0.0;
    case Coord::kAlignCorners: return a.resized_len == 1 ? 0.0 : x * in_last / (a.resized_len - 1);
    case Coord::kAsymmetric: return x / a.scale;
    case Coord::kTfHalfPixelForNn: return (x + 0.5) / a.scale;
    case Coord::kTfCropAndResize:
      if (a.resized_len > 1) {
        return a.roi_start * in_last + x * (a.roi_end - a.roi_start) * in_last / (a.resized_len - 1);
      }
      return 0.5 * (a.roi_start + a.roi_end) * in_last;
  }
  return 0.0;
}

int64_t round_nearest(Rounding rounding, double x) {
  const double below = std::floor(x);
  switch (rounding) {
    case Rounding::kFloor: return static_cast<int64_t>(below);
    case Rounding::kCeil: return static_cast<int64_t>(std::ceil(x));
    case Rounding::kRoundPreferFloor: return static_cast<int64_t>(x - below == 0.5 ? below : std::round(x));
    case Rounding::kRoundPreferCeil: return static_cast<int64_t>(x - below == 0.5 ? below + 1 : std::round(x));
  }
  return 0;
}

// Keys' cubic kernel weights for the taps at floor(x) - 1 .. floor(x) + 2.
void cubic_weights(double a, double r, double* w) {
  const double t0 = r + 1, t1 = r, t2 = 1 - r, t3 = 2 - r;
  w[0] = ((a * t0 - 5 * a) * t0 + 8 * a) * t0 - 4 * a;
  w[1] = ((a + 2) * t1 - (a + 3)) * t1 * t1 + 1;
  w[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
  w[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

Taps make_taps(const ResizeParams& p, double x, int64_t in_len) {
  Taps t;
  if (p.coord == Coord::kTfCropAndResize && (x < 0 || x > static_cast<double>(in_len - 1))) {
    t.outside = true;
    return t;
  }
  const double below = std::floor(x);
  const auto base = static_cast<int64_t>(below);
  const double r = x - below;
  if (p.interp == Interp::kNearest) {
    t.count = 1;
    t.index[0] = round_nearest(p.rounding, x);
    t.weight[0] = 1.0;
  } else if (p.interp == Interp::kLinear) {
    t.count = 2;
    t.index[0] = base, t.index[1] = base + 1;
    t.weight[0] = 1 - r, t.weight[1] = r;
  } else {
    t.count = 4;
    for (int j = 0; j < 4; ++j) t.index[j] = base - 1 + j;
    cubic_weights(p.cubic_a, r, t.weight);
  }
  double total = 0;
  for (int j = 0; j < t.count; ++j) {
    const bool inside = t.index[j] >= 0 && t.index[j] < in_len;
    if (p.exclude_outside && !inside) t.weight[j] = 0;
    total += t.weight[j];
    t.index[j] = std::clamp<int64_t>(t.index[j], 0, in_len - 1);
  }
  if (p.exclude_outside && total != 0) {
    for (int j = 0; j < t.count; ++j) t.weight[j] /= total;
  }
  return t;
}

// One 1-D pass along an axis: src is [outer, in_len, inner], dst [outer, out_len, inner].
template <typename U>
void resize_pass(const U* src, U* dst, int64_t outer, int64_t in_len, int64_t inner, const std::vector<Taps>& taps,
                 U fill) {
  const auto out_len = static_cast<int64_t>(taps.size());
  for (int64_t o = 0; o < outer; ++o) {
    const U* s = src + o * in_len * inner;
    for (int64_t x = 0; x < out_len; ++x, dst += inner) {
      const Taps& t = taps[static_cast<size_t>(x)];
      if (t.outside) {
        std::fill_n(dst, inner, fill);
      } else if (t.count == 1) {
        std::copy_n(s + t.index[0] * inner, inner, dst);
      } else if constexpr (std::is_same_v<U, double>) {
        for (int64_t i = 0; i < inner; ++i) {
          double acc = 0;
          for (int j = 0; j < t.count; ++j) acc += t.weight[j] * s[t.index[j] * inner + i];
          dst[i] = acc;
        }
      }
    }
  }
}

// Runs the passes over `data` (shape `shape`), one per axis that changes.
template <typename U>
std::vector<U> resize_all_axes(std::vector<U> data, Shape shape, const std::vector<AxisGeometry>& axes,
                               const ResizeParams& p, U fill) {
  for (size_t k = 0; k < axes.size(); ++k) {
    const AxisGeometry& a = axes[k];
    const bool identity = a.in_len == a.out_len && a.scale == 1.0 && p.coord != Coord::kTfCropAndResize &&
                          p.coord != Coord::kTfHalfPixelForNn;
    if (identity) continue;
    std::vector<Taps> taps;
    for (int64_t x = 0; x < a.out_len; ++x) {
      taps.push_back(make_taps(p, original_coord(p.coord, static_cast<double>(x), a), a.in_len));
    }
    const int64_t outer = dims_product(shape, 0, k);
    const int64_t inner = dims_product(shape, k + 1, shape.size());
    shape[k] = a.out_len;
    std::vector<U> next(static_cast<size_t>(shape_size(shape)));
    resize_pass<U>(data.data(), next.data(), outer, a.in_len, inner, taps, fill);
    data = std::move(next);
  }
  return data;
}

// Rebuilds the per-axis geometry at run time from the concrete inputs.
std::vector<AxisGeometry> kernel_geometry(KernelContext& ctx, bool crop) {
  std::vector<AxisGeometry> axes;
  const Tensor& src = ctx.input(0);
  const Tensor& dst = ctx.output(0);
  const bool has_scales = ctx.has_input(2) && ctx.input(2).size() != 0;
  const bool has_roi = ctx.has_input(1) && ctx.input(1).size() == 2 * src.rank();
  for (int64_t k = 0; k < src.rank(); ++k) {
    AxisGeometry a{src.dim(k), dst.dim(k), 1.0, static_cast<double>(dst.dim(k)), 0.0, 1.0};
    if (has_roi) {
      a.roi_start = ctx.input(1).float_at(k);
      a.roi_end = ctx.input(1).float_at(k + src.rank());
    }
    if (has_scales) {
      a.scale = ctx.input(2).float_at(k);
      a.resized_len = a.scale * static_cast<double>(a.in_len) * (crop ? a.roi_end - a.roi_start : 1.0);
    } else if (a.in_len > 0) {
      a.scale = static_cast<double>(a.out_len) / static_cast<double>(a.in_len);
    }
    axes.push_back(a);
  }
  return axes;
}

Status run_resize(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  Tensor& dst = ctx.output(0);
  if (dst.size() == 0) return {};
  ResizeParams p;
  KESTREL_RETURN_IF_ERROR(parse_params(ctx.attrs(), &p));
  const std::vector<AxisGeometry> axes = kernel_geometry(ctx, p.coord == Coord::kTfCropAndResize);
  if (p.interp == Interp::kNearest) {
    // Nearest only moves elements, so it works on raw bits of any type.
    const std::vector<uint8_t> fill_bytes = encode_scalar(src.dtype(), p.extrapolation);
    return dispatch_by_size(src.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T fill{};
      std::memcpy(&fill, fill_bytes.data(), sizeof(T));
      std::vector<T> data(src.data<T>(), src.data<T>() + src.size());
      data = resize_all_axes<T>(std::move(data), src.shape(), axes, p, fill);
      std::copy(data.begin(), data.end(), dst.data<T>());
      return Status{};
    });
  }
  std::vector<double> data(static_cast<size_t>(src.size()));
  for (int64_t i = 0; i < src.size(); ++i) data[static_cast<size_t>(i)] = src.float_at(i);
  data = resize_all_axes<double>(std::move(data), src.shape(), axes, p, p.extrapolation);
  for (int64_t i = 0; i < dst.size(); ++i) {
    const double value = data[static_cast<size_t>(i)];
    switch (dst.dtype()) {
      case DType::kFloat32: dst.data<float>()[i] = static_cast<float>(value); break;
      case DType::kFloat64: dst.data<double>()[i] = value; break;
      default: dst.data<uint16_t>()[i] = float_to_half(static_cast<float>(value)); break;
    }
  }
  return {};
}

}  // namespace

void register_resize_ops(OpRegistry& registry) { registry.add({"Resize", infer_resize, run_resize}); }

}  // namespace kestrel::tensor_ops
