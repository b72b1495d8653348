// The Reduce* family. Axes come from the `axes` attribute, except for
// ReduceSum from opset 13 (and every reduction from opset 18), where they are
// an optional input and `noop_with_empty_axes` exists.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kSumSquare, kL1, kL2, kLogSum, kLogSumExp };

bool axes_are_input(Reduce kind, int64_t opset) { return opset >= 18 || (kind == Reduce::kSum && opset >= 13); }

// Which dims are reduced. All false means the op is a no-op copy.
Status reduced_dims(const Node& node, Reduce kind, int64_t opset, int64_t rank, bool has_axes_input,
                    const Tensor* axes_data, std::vector<bool>* reduced) {
  std::vector<int64_t> axes;
  bool noop_if_empty = false;
  if (axes_are_input(kind, opset)) {
    if (node.attrs.has("axes")) return nn::node_error(node, "axes is an input, not an attribute, at opset ", opset);
    noop_if_empty = node.attrs.get_int("noop_with_empty_axes", 0) != 0;
    if (has_axes_input) {
      if (axes_data == nullptr) {
        return unimplemented(node.label(),
                             ": output shape depends on the value of input 1 (axes), which is not a constant");
      }
      if (axes_data->rank() != 1 || (axes_data->dtype() != DType::kInt64)) {
        return nn::node_error(node, "input axes must be a 1-D int64 tensor, got ", dtype_name(axes_data->dtype()),
                              shape_string(axes_data->shape()));
      }
      axes = axes_data->to_int64s();
    }
  } else {
    if (has_axes_input) return nn::node_error(node, "takes no axes input at opset ", opset);
    axes = node.attrs.get_ints("axes");
  }
  reduced->assign(static_cast<size_t>(rank), axes.empty() && !noop_if_empty);
  for (int64_t axis : axes) {
    int64_t normalized = 0;
    KESTREL_RETURN_IF_ERROR(nn::normalize_axis(node, axis, rank, &normalized));
    if ((*reduced)[static_cast<size_t>(normalized)]) return nn::node_error(node, "axis ", axis, " appears twice");
    (*reduced)[static_cast<size_t>(normalized)] = true;
  }
  return {};
}

template <Reduce kKind>
Status infer_reduce(InferContext& ctx) {
  const bool axes_input = axes_are_input(kKind, ctx.opset());
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, axes_input ? 2 : 1));
  const DType dtype = ctx.input_dtype(0);
  if (dtype_size(dtype) == 0 || dtype == DType::kBool || dtype == DType::kFloat16) {
    return unimplemented(ctx.node().label(), ": element type ", dtype_name(dtype), " is not supported");
  }
  const int64_t keepdims = ctx.attrs().get_int("keepdims", 1);
  if (keepdims != 0 && keepdims != 1) return ctx.error("attribute keepdims must be 0 or 1, got ", keepdims);
  const Shape& x = ctx.input_shape(0);
  std::vector<bool> reduced;
  KESTREL_RETURN_IF_ERROR(reduced_dims(ctx.node(), kKind, ctx.opset(), static_cast<int64_t>(x.size()), ctx.has_input(1),
                                       ctx.input_data(1), &reduced));
  Shape y;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!reduced[i]) y.push_back(x[i]);
    else if (keepdims == 1) y.push_back(1);
  }
  ctx.set_output(0, dtype, y);
  return {};
}

template <Reduce kKind, typename T>
T reduce_identity() {
  if constexpr (kKind == Reduce::kMax) return std::numeric_limits<T>::lowest();
  if constexpr (kKind == Reduce::kMin) return std::numeric_limits<T>::max();
  if constexpr (kKind == Reduce::kProd) return T(1);
  return T(0);
}

template <typename T>
nn::WrapType<T> magnitude(T x) {
  using W = nn::WrapType<T>;
  if constexpr (std::is_signed_v<T>) return x < T(0) ? static_cast<W>(-x) : static_cast<W>(x);
  return static_cast<W>(x);
}

template <Reduce kKind, typename T>
T reduce_combine(T acc, T x) {
  using W = nn::WrapType<T>;
  const W a = static_cast<W>(acc), v = static_cast<W>(x);
  switch (kKind) {
    case Reduce::kMax: return std::max(acc, x);
    case Reduce::kMin: return std::min(acc, x);
    case Reduce::kProd: return static_cast<T>(a * v);
    case Reduce::kSumSquare:
    case Reduce::kL2: return static_cast<T>(a + v * v);
    case Reduce::kL1: return static_cast<T>(a + magnitude(x));
    case Reduce::kLogSumExp: return static_cast<T>(acc + std::exp(x));
    default: return static_cast<T>(a + v);
  }
}

template <Reduce kKind, typename T>
T reduce_finish(T acc, int64_t count) {
  switch (kKind) {
    case Reduce::kMean: return static_cast<T>(acc / static_cast<T>(count));
    case Reduce::kL2: return static_cast<T>(std::sqrt(acc));
    case Reduce::kLogSum:
    case Reduce::kLogSumExp: return static_cast<T>(std::log(acc));
    default: return acc;
  }
}

// Strides of the kept-dims output for each input dim; 0 for reduced dims,
// so an input index maps to its output element by a dot product.
std::vector<int64_t> output_strides(const Shape& shape, const std::vector<bool>& reduced) {
  std::vector<int64_t> strides(shape.size(), 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    if (reduced[i]) continue;
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

template <Reduce kKind, typename T>
void reduce_into(const T* src, const Shape& in_shape, const std::vector<bool>& reduced, std::vector<T>* acc) {
  const Shape shape = in_shape.empty() ? Shape{1} : in_shape;
  const std::vector<int64_t> strides = output_strides(shape, in_shape.empty() ? std::vector<bool>{true} : reduced);
  const size_t last = shape.size() - 1;
  const int64_t length = shape[last], step = strides[last];
  const int64_t rows = nn::dims_product(shape, 0, static_cast<int64_t>(last));
  std::vector<int64_t> index(last, 0);
  int64_t base = 0;
  for (int64_t row = 0; row < rows; ++row, src += length) {
    T* dst = acc->data() + base;
    for (int64_t i = 0; i < length; ++i) dst[i * step] = reduce_combine<kKind>(dst[i * step], src[i]);
    // Odometer over the leading dims keeps `base` current without divisions.
    for (size_t d = last; d-- > 0;) {
      base += strides[d];
      if (++index[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

template <Reduce kKind, typename T>
Status reduce_kernel(KernelContext& ctx) {
  const Tensor& x = ctx.input(0);
  Tensor& y = ctx.output(0);
  std::vector<bool> reduced;
  const Tensor* axes = ctx.has_input(1) ? &ctx.input(1) : nullptr;
  KESTREL_RETURN_IF_ERROR(reduced_dims(ctx.node(), kKind, ctx.opset(), x.rank(), axes != nullptr, axes, &reduced));
  if (std::none_of(reduced.begin(), reduced.end(), [](bool r) { return r; }) && x.rank() > 0) {
    std::copy(x.data<T>(), x.data<T>() + x.size(), y.data<T>());  // noop_with_empty_axes
    return {};
  }
  int64_t count = 1;
  for (int64_t i = 0; i < x.rank(); ++i) count *= reduced[static_cast<size_t>(i)] ? x.dim(i) : 1;
  std::vector<T> acc(static_cast<size_t>(y.size()), reduce_identity<kKind, T>());
  reduce_into<kKind>(x.data<T>(), x.shape(), reduced, &acc);
  for (int64_t i = 0; i < y.size(); ++i) y.data<T>()[i] = reduce_finish<kKind>(acc[static_cast<size_t>(i)], count);
  return {};
}

template <Reduce kKind>
Status run_reduce(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) { return reduce_kernel<kKind, decltype(tag)>(ctx); });
}

template <Reduce kKind>
constexpr OpDef reduce_op(std::string_view name) {
  return {name, infer_reduce<kKind>, run_reduce<kKind>};
}

}  // namespace

void register_reduce_ops(OpRegistry& registry) {
  registry.add(reduce_op<Reduce::kSum>("ReduceSum"));
  registry.add(reduce_op<Reduce::kMean>("ReduceMean"));
  registry.add(reduce_op<Reduce::kMax>("ReduceMax"));
  registry.add(reduce_op<Reduce::kMin>("ReduceMin"));
  registry.add(reduce_op<Reduce::kProd>("ReduceProd"));
  registry.add(reduce_op<Reduce::kSumSquare>("ReduceSumSquare"));
  registry.add(reduce_op<Reduce::kL1>("ReduceL1"));
  registry.add(reduce_op<Reduce::kL2>("ReduceL2"));
  registry.add(reduce_op<Reduce::kLogSum>("ReduceLogSum"));
  registry.add(reduce_op<Reduce::kLogSumExp>("ReduceLogSumExp"));
}

}  // namespace kestrel
