// Tensor and shape ops: the group's register function and the helpers its
// files share.
#include <cstring>

#include "kernels/dispatch.h"
#include "kernels/op_registry.h"
#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel {

void register_tensor_ops(OpRegistry& registry) {
  tensor_ops::register_reshape_ops(registry);
  tensor_ops::register_transpose_ops(registry);
  tensor_ops::register_concat_split_ops(registry);
  tensor_ops::register_slice_ops(registry);
  tensor_ops::register_pad_ops(registry);
  tensor_ops::register_resize_ops(registry);
  tensor_ops::register_gather_ops(registry);
  tensor_ops::register_constant_ops(registry);
  tensor_ops::register_expand_tile_ops(registry);
}

namespace tensor_ops {

int64_t dims_product(const Shape& shape, size_t begin, size_t end) {
  int64_t product = 1;
  for (size_t i = begin; i < end && i < shape.size(); ++i) product = dim_mul(product, shape[i]);
  return product;
}

Status normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank, const char* what, int64_t* out) {
  if (axis < -rank || axis >= rank) {
    return ctx.error(what, " ", axis, " is out of range for rank ", rank, " (valid: [", -rank, ", ", rank - 1, "])");
  }
  *out = axis < 0 ? axis + rank : axis;
  return {};
}

Status expect_storable(const InferContext& ctx, size_t i) {
  if (!dtype_is_supported(ctx.input_dtype(i))) {
    return unimplemented(ctx.node().label(), ": input ", i, " has element type ", dtype_name(ctx.input_dtype(i)),
                         ", which Kestrel cannot store");
  }
  return {};
}

Status expect_index_type(const InferContext& ctx, size_t i, const char* what, bool allow_int32) {
  const DType dtype = ctx.input_dtype(i);
  if (dtype == DType::kInt64 || (allow_int32 && dtype == DType::kInt32)) return {};
  return ctx.error(what, " (input ", i, ") must be ", allow_int32 ? "int32 or int64" : "int64", ", got ",
                   dtype_name(dtype));
}

Status not_constant_error(const InferContext& ctx, size_t i) {
  return unimplemented(ctx.node().label(), ": output shape depends on the value of input ", i,
                       ", which is not a constant");
}

Status read_int_input(const InferContext& ctx, size_t i, const char* what, std::vector<int64_t>* out,
                      bool allow_scalar) {
  const Tensor* tensor = ctx.input_data(i);
  if (tensor == nullptr) return not_constant_error(ctx, i);
  if (tensor->rank() != 1 && !(allow_scalar && tensor->rank() == 0)) {
    return ctx.error(what, " (input ", i, ") must be ", allow_scalar ? "0-D or 1-D" : "1-D", ", got shape ",
                     shape_string(tensor->shape()));
  }
  const DType dtype = tensor->dtype();
  if (dtype != DType::kInt64 && dtype != DType::kInt32) {
    return ctx.error(what, " (input ", i, ") must be an integer tensor, got ", dtype_name(dtype));
  }
  *out = tensor->to_int64s();
  return {};
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t k = shape.size(); k-- > 1;) strides[k - 1] = strides[k] * shape[k];
  return strides;
}

namespace {

// Drops size-1 dims and merges neighbours that are contiguous in src, so the
// innermost loop runs as long as possible.
void collapse_dims(const Shape& shape, const std::vector<int64_t>& strides, Shape* dims,
                   std::vector<int64_t>* dim_strides) {
  for (size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 1) continue;
    if (!dims->empty() && dim_strides->back() == strides[k] * shape[k]) {
      dims->back() *= shape[k];
      dim_strides->back() = strides[k];
    } else {
      dims->push_back(shape[k]);
      dim_strides->push_back(strides[k]);
    }
  }
  if (dims->empty()) {
    dims->push_back(1);
    dim_strides->push_back(1);
  }
}

}  // namespace

Status strided_copy(const Tensor& src, int64_t src_offset, const Shape& out_shape,
                    const std::vector<int64_t>& src_strides, Tensor& dst) {
  if (dst.size() == 0) return {};
  Shape dims;
  std::vector<int64_t> strides;
  collapse_dims(out_shape, src_strides, &dims, &strides);
  const size_t rank = dims.size();
  const int64_t inner = dims.back();
  const int64_t inner_stride = strides.back();
  const int64_t outer = dst.size() / inner;
  return dispatch_by_size(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.data<T>();
    T* d = dst.data<T>();
    std::vector<int64_t> index(rank, 0);
    int64_t pos = src_offset;
    for (int64_t o = 0; o < outer; ++o, d += inner) {
      if (inner_stride == 1) {
        std::memcpy(d, s + pos, static_cast<size_t>(inner) * sizeof(T));
      } else {
        for (int64_t i = 0; i < inner; ++i) d[i] = s[pos + i * inner_stride];
      }
      // Odometer over the outer dims keeps `pos` without divisions.
      for (size_t k = rank - 1; k-- > 0;) {
        pos += strides[k];
        if (++index[k] < dims[k]) break;
        pos -= strides[k] * dims[k];
        index[k] = 0;
      }
    }
    return Status{};
  });
}

Status permute_copy(const Tensor& src, const Shape& view_shape, const std::vector<int64_t>& perm, Tensor& dst) {
  const std::vector<int64_t> view_strides = strides_of(view_shape);
  Shape out_shape(perm.size());
  std::vector<int64_t> strides(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) {
    out_shape[k] = view_shape[static_cast<size_t>(perm[k])];
    strides[k] = view_strides[static_cast<size_t>(perm[k])];
  }
  return strided_copy(src, 0, out_shape, strides, dst);
}

Status copy_input_kernel(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  Tensor& dst = ctx.output(0);
  if (dst.nbytes() != src.nbytes()) return internal_error(ctx.node().label(), ": output size differs from input");
  if (src.nbytes() != 0 && dst.raw_data() != src.raw_data()) std::memcpy(dst.raw_data(), src.raw_data(), src.nbytes());
  return {};
}

std::vector<uint8_t> encode_scalar(DType dtype, double value) {
  std::vector<uint8_t> bytes(dtype_size(dtype));
  auto put = [&](auto typed) { std::memcpy(bytes.data(), &typed, sizeof(typed)); };
  switch (dtype) {
    case DType::kFloat32: put(static_cast<float>(value)); break;
    case DType::kFloat64: put(value); break;
    case DType::kFloat16: put(float_to_half(static_cast<float>(value))); break;
    case DType::kInt8: put(static_cast<int8_t>(value)); break;
    case DType::kUInt8: put(static_cast<uint8_t>(value)); break;
    case DType::kInt16: put(static_cast<int16_t>(value)); break;
    case DType::kUInt16: put(static_cast<uint16_t>(value)); break;
    case DType::kInt32: put(static_cast<int32_t>(value)); break;
    case DType::kUInt32: put(static_cast<uint32_t>(value)); break;
    case DType::kInt64: put(static_cast<int64_t>(value)); break;
    case DType::kUInt64: put(static_cast<uint64_t>(value)); break;
    case DType::kBool: put(static_cast<uint8_t>(value != 0.0)); break;
    default: break;
  }
  return bytes;
}

}  // namespace tensor_ops
}  // namespace kestrel
