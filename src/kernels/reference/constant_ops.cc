// Ops whose output is known from attributes or from input shapes and small
// scalar inputs: Constant, Shape, ConstantOfShape, Range. Constant and Shape
// compute their value in the shape function where they can.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

Status constant_value(const InferContext& ctx, const std::string& name, Tensor* value) {
  const Attributes& attrs = ctx.attrs();
  if (name == "value") {
    const Tensor* tensor = attrs.get_tensor("value");
    if (tensor == nullptr) return ctx.error("attribute 'value' is not a tensor");
    *value = tensor->clone();
  } else if (name == "value_float") {
    *value = Tensor::scalar<float>(attrs.get_float(name, 0.0f));
  } else if (name == "value_floats") {
    const std::vector<float> floats = attrs.get_floats(name);
    *value = Tensor::from_vector<float>({static_cast<int64_t>(floats.size())}, floats);
  } else if (name == "value_int") {
    *value = Tensor::scalar<int64_t>(attrs.get_int(name, 0));
  } else if (name == "value_ints") {
    const std::vector<int64_t> ints = attrs.get_ints(name);
    *value = Tensor::from_vector<int64_t>({static_cast<int64_t>(ints.size())}, ints);
  } else {
    return unimplemented(ctx.node().label(), ": Constant with attribute '", name,
                         "' is not supported (Kestrel stores no strings or sparse tensors)");
  }
  return {};
}

Status infer_constant(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(0, 0));
  static const char* const kNames[] = {"value",      "value_float",  "value_floats",  "value_int",
                                       "value_ints", "value_string", "value_strings", "sparse_value"};
  std::string found;
  for (const char* name : kNames) {
    if (!ctx.attrs().has(name)) continue;
    if (!found.empty()) {
      return ctx.error("has both '", found, "' and '", name, "'; exactly one value attribute is allowed");
    }
    found = name;
  }
  if (found.empty()) return ctx.error("needs one of the attributes value, value_float(s), value_int(s)");
  Tensor value;
  KESTREL_RETURN_IF_ERROR(constant_value(ctx, found, &value));
  ctx.set_output_data(0, std::move(value));
  return {};
}

// Shape's [start, end) range of axes (opset 15 attributes), clamped.
void shape_range(const Attributes& attrs, int64_t opset, int64_t rank, int64_t* start, int64_t* end) {
  *start = opset >= 15 ? attrs.get_int("start", 0) : 0;
  *end = opset >= 15 ? attrs.get_int("end", rank) : rank;
  if (*start < 0) *start += rank;
  if (*end < 0) *end += rank;
  *start = std::clamp<int64_t>(*start, 0, rank);
  *end = std::clamp<int64_t>(*end, *start, rank);
}

Status infer_shape(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  const Shape& in = ctx.input_shape(0);
  int64_t start = 0, end = 0;
  shape_range(ctx.attrs(), ctx.opset(), static_cast<int64_t>(in.size()), &start, &end);
  const Shape dims(in.begin() + start, in.begin() + end);
  if (std::find(dims.begin(), dims.end(), -1) != dims.end()) {
    ctx.set_output(0, DType::kInt64, {end - start});  // known only at run time
  } else {
    ctx.set_output_data(0, Tensor::from_vector<int64_t>({end - start}, dims));
  }
  return {};
}

Status run_shape(KernelContext& ctx) {
  const Shape& in = ctx.input(0).shape();
  int64_t start = 0, end = 0;
  shape_range(ctx.attrs(), ctx.opset(), static_cast<int64_t>(in.size()), &start, &end);
  std::copy(in.begin() + start, in.begin() + end, ctx.output(0).data<int64_t>());
  return {};
}

Status infer_constant_of_shape(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 0, "shape"));
  std::vector<int64_t> shape;
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 0, "shape", &shape));
  for (int64_t dim : shape) {
    if (dim < 0) return ctx.error("shape ", shape_string(shape), " has a negative dim");
  }
  DType dtype = DType::kFloat32;
  if (ctx.attrs().has("value")) {
    const Tensor* value = ctx.attrs().get_tensor("value");
    if (value == nullptr || value->size() != 1) return ctx.error("attribute 'value' must be a one-element tensor");
    dtype = value->dtype();
    if (!dtype_is_supported(dtype)) {
      return unimplemented(ctx.node().label(), ": value of element type ", dtype_name(dtype), " is not supported");
    }
  }
  ctx.set_output(0, dtype, std::move(shape));
  return {};
}

Status run_constant_of_shape(KernelContext& ctx) {
  Tensor& dst = ctx.output(0);
  const Tensor* value = ctx.attrs().get_tensor("value");
  if (value == nullptr) return {};  // default 0.0f: outputs start zero-filled
  const size_t esize = dtype_size(dst.dtype());
  auto* d = static_cast<uint8_t*>(dst.raw_data());
  for (int64_t i = 0; i < dst.size(); ++i) std::memcpy(d + static_cast<size_t>(i) * esize, value->raw_data(), esize);
  return {};
}

// Number of elements Range produces, computed in T like the kernel.
// kOverflowedDim when the count does not fit an int64 dim.
template <typename T>
int64_t range_count(T start, T limit, T delta) {
  if constexpr (std::is_floating_point_v<T>) {
    const double count =
        std::ceil((static_cast<double>(limit) - static_cast<double>(start)) / static_cast<double>(delta));
    if (count <= 0) return 0;
    if (!(count < 4611686018427387904.0)) return kOverflowedDim;  // 2^62, or NaN
    return static_cast<int64_t>(count);
  } else {
    int64_t span = 0;
    if (__builtin_sub_overflow(static_cast<int64_t>(limit), static_cast<int64_t>(start), &span)) return kOverflowedDim;
    const auto step = static_cast<int64_t>(delta);
    const int64_t count = span / step + ((span % step != 0 && (span < 0) == (step < 0)) ? 1 : 0);
    return std::max<int64_t>(0, count);
  }
}

Status infer_range(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(3, 3));
  const DType dtype = ctx.input_dtype(0);
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input_dtype(i) != dtype) return ctx.error("start, limit and delta must have the same type");
    if (shape_size(ctx.input_shape(i)) != 1 || ctx.input_shape(i).size() > 1) {
      return ctx.error("input ", i, " must be a scalar, got shape ", shape_string(ctx.input_shape(i)));
    }
  }
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kInt16 && dtype != DType::kInt32 &&
      dtype != DType::kInt64) {
    return ctx.error("element type ", dtype_name(dtype), " is not float, double, int16, int32 or int64");
  }
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input_data(i) == nullptr) return not_constant_error(ctx, i);
  }
  if (ctx.input_data(2)->float_at(0) == 0.0) return ctx.error("delta must not be 0");
  int64_t count = 0;
  KESTREL_RETURN_IF_ERROR(dispatch_numeric(dtype, [&](auto tag) {
    using T = decltype(tag);
    count = range_count<T>(ctx.input_data(0)->data<T>()[0], ctx.input_data(1)->data<T>()[0],
                           ctx.input_data(2)->data<T>()[0]);
    return Status{};
  }));
  ctx.set_output(0, dtype, {count});
  return {};
}

Status run_range(KernelContext& ctx) {
  Tensor& dst = ctx.output(0);
  return dispatch_numeric(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T start = ctx.input(0).data<T>()[0];
    const T delta = ctx.input(2).data<T>()[0];
    T* d = dst.data<T>();
    for (int64_t i = 0; i < dst.size(); ++i) d[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    return Status{};
  });
}

}  // namespace

void register_constant_ops(OpRegistry& registry) {
  registry.add({"Constant", infer_constant, nullptr});
  registry.add({"Shape", infer_shape, run_shape});
  registry.add({"ConstantOfShape", infer_constant_of_shape, run_constant_of_shape});
  registry.add({"Range", infer_range, run_range});
}

}  // namespace kestrel::tensor_ops
