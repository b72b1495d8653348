// Gemm and MatMul, both on the shared i-k-j GEMM loop.
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {
namespace {

using nn::node_error;

// The element types ONNX allows for Gemm and MatMul (float16/bfloat16 aside).
bool is_gemm_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt32:
    case DType::kUInt64: return true;
    default: return false;
  }
}

Status check_same_gemm_types(const InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  if (!is_gemm_type(dtype)) {
    return unimplemented(ctx.node().label(), ": element type ", dtype_name(dtype), " is not supported");
  }
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i) && ctx.input_dtype(i) != dtype) {
      return ctx.error("input ", i, " has element type ", dtype_name(ctx.input_dtype(i)), ", expected ",
                       dtype_name(dtype));
    }
  }
  return {};
}

// Merges two dims under numpy broadcasting; -1 (unknown) yields to a known dim other than 1.
bool broadcast_dim(int64_t a, int64_t b, int64_t* out) {
  if (a == b || b == 1 || (b < 0 && a >= 0 && a != 1)) *out = a;
  else if (a == 1 || a < 0) *out = b;
  else return false;
  return true;
}

// ---- Gemm ----

Status infer_gemm(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(ctx.opset() < 11 ? 3 : 2, 3));
  KESTREL_RETURN_IF_ERROR(check_same_gemm_types(ctx));
  const Shape& a = ctx.input_shape(0);
  const Shape& b = ctx.input_shape(1);
  if (a.size() != 2 || b.size() != 2) {
    return ctx.error("inputs A ", shape_string(a), " and B ", shape_string(b), " must both be 2-D");
  }
  const int64_t trans_a = ctx.attrs().get_int("transA", 0);
  const int64_t trans_b = ctx.attrs().get_int("transB", 0);
  if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1)) {
    return ctx.error("attributes transA and transB must be 0 or 1");
  }
  const int64_t m = a[trans_a], k = a[1 - trans_a];
  const int64_t kb = b[trans_b], n = b[1 - trans_b];
  if (k >= 0 && kb >= 0 && k != kb) {
    return ctx.error("inner dims differ: A ", shape_string(a), (trans_a ? " (transposed)" : ""), " and B ",
                     shape_string(b), (trans_b ? " (transposed)" : ""));
  }
  if (ctx.has_input(2)) {
    const Shape& c = ctx.input_shape(2);
    const Shape target = {m, n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      const int64_t dim = c[c.size() - 1 - i], want = target[1 - i];
      ok = dim == 1 || dim < 0 || want < 0 || dim == want;
    }
    if (!ok) return ctx.error("C ", shape_string(c), " cannot be broadcast to ", shape_string(target));
  }
  ctx.set_output(0, ctx.input_dtype(0), {m, n});
  return {};
}

template <typename T>
Status gemm_kernel(KernelContext& ctx) {
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor& y = ctx.output(0);
  const bool trans_a = ctx.attrs().get_int("transA", 0) != 0;
  const bool trans_b = ctx.attrs().get_int("transB", 0) != 0;
  const int64_t m = y.dim(0), n = y.dim(1), k = trans_a ? a.dim(0) : a.dim(1);
  // Transposed operands are copied into row-major order first.
  std::vector<T> a_copy, b_copy;
  const T* a_data = a.data<T>();
  const T* b_data = b.data<T>();
  if (trans_a) {
    a_copy.resize(static_cast<size_t>(m * k));
    nn::transpose_2d(k, m, a_data, a_copy.data());
    a_data = a_copy.data();
  }
  if (trans_b) {
    b_copy.resize(static_cast<size_t>(k * n));
    nn::transpose_2d(n, k, b_data, b_copy.data());
    b_data = b_copy.data();
  }
  T* dst = y.data<T>();
  std::fill(dst, dst + m * n, T(0));
  nn::gemm_accumulate(m, n, k, a_data, k, b_data, n, dst, n);

  // Integers scale in double so that a fractional alpha or beta is not truncated first.
  using Scale = std::conditional_t<std::is_floating_point_v<T>, T, double>;
  const Scale alpha = static_cast<Scale>(ctx.attrs().get_float("alpha", 1.0f));
  const Scale beta = static_cast<Scale>(ctx.attrs().get_float("beta", 1.0f));
  const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  const int64_t c_rows = c && c->rank() == 2 ? c->dim(0) : 1;
  const int64_t c_cols = c && c->rank() >= 1 ? c->dim(c->rank() - 1) : 1;
  const int64_t row_step = c_rows > 1 ? c_cols : 0, col_step = c_cols > 1 ? 1 : 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      Scale value = alpha * static_cast<Scale>(dst[i * n + j]);
      if (c) value += beta * static_cast<Scale>(c->data<T>()[i * row_step + j * col_step]);
      dst[i * n + j] = static_cast<T>(value);
    }
  }
  return {};
}

Status run_gemm(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) { return gemm_kernel<decltype(tag)>(ctx); });
}

// ---- MatMul ----

// Operand shapes as matrices: a 1-D A is [1, K], a 1-D B is [K, 1].
struct MatMulShapes {
  Shape a, b;    // at least 2-D
  Shape batch;   // broadcast batch dims
  Shape output;  // batch + [M] + [N], without the dims of 1-D operands
};

Status matmul_shapes(const Node& node, const Shape& a_in, const Shape& b_in, MatMulShapes* s) {
  if (a_in.empty() || b_in.empty()) {
    return node_error(node, "inputs must have rank >= 1, got ", shape_string(a_in), " and ", shape_string(b_in));
  }
  s->a = a_in.size() == 1 ? Shape{1, a_in[0]} : a_in;
  s->b = b_in.size() == 1 ? Shape{b_in[0], 1} : b_in;
  const int64_t ka = s->a.back(), kb = s->b[s->b.size() - 2];
  if (ka >= 0 && kb >= 0 && ka != kb) {
    return node_error(node, "inner dims differ: ", shape_string(a_in), " x ", shape_string(b_in));
  }
  const size_t a_batch = s->a.size() - 2, b_batch = s->b.size() - 2;
  const size_t rank = std::max(a_batch, b_batch);
  s->batch.assign(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a_batch ? 1 : s->a[i - (rank - a_batch)];
    const int64_t db = i < rank - b_batch ? 1 : s->b[i - (rank - b_batch)];
    if (!broadcast_dim(da, db, &s->batch[i])) {
      return node_error(node, "batch dims of ", shape_string(a_in), " and ", shape_string(b_in),
                        " cannot be broadcast");
    }
  }
  s->output = s->batch;
  if (a_in.size() > 1) s->output.push_back(s->a[s->a.size() - 2]);
  if (b_in.size() > 1) s->output.push_back(s->b.back());
  return {};
}

Status infer_matmul(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(check_same_gemm_types(ctx));
  MatMulShapes shapes;
  KESTREL_RETURN_IF_ERROR(matmul_shapes(ctx.node(), ctx.input_shape(0), ctx.input_shape(1), &shapes));
  ctx.set_output(0, ctx.input_dtype(0), shapes.output);
  return {};
}

// Matrix strides of an operand's batch dims after right-aligning them to
// `batch`; 0 where the operand is broadcast.
std::vector<int64_t> batch_strides(const Shape& matrix_shape, const Shape& batch) {
  const size_t own = matrix_shape.size() - 2, offset = batch.size() - own;
  std::vector<int64_t> strides(batch.size(), 0);
  int64_t stride = 1;
  for (size_t i = own; i-- > 0;) {
    if (matrix_shape[i] != 1) strides[i + offset] = stride;
    stride *= matrix_shape[i];
  }
  return strides;
}

template <typename T>
Status matmul_kernel(KernelContext& ctx, const MatMulShapes& s) {
  const int64_t m = s.a[s.a.size() - 2], k = s.a.back(), n = s.b.back();
  const std::vector<int64_t> a_strides = batch_strides(s.a, s.batch);
  const std::vector<int64_t> b_strides = batch_strides(s.b, s.batch);
  const T* a = ctx.input(0).data<T>();
  const T* b = ctx.input(1).data<T>();
  T* y = ctx.output(0).data<T>();
  std::fill(y, y + ctx.output(0).size(), T(0));
  const int64_t count = shape_size(s.batch);
  std::vector<int64_t> index(s.batch.size(), 0);
  int64_t a_offset = 0, b_offset = 0;
  for (int64_t batch = 0; batch < count; ++batch) {
    nn::gemm_accumulate(m, n, k, a + a_offset * m * k, k, b + b_offset * k * n, n, y + batch * m * n, n);
    // Advances the batch index like an odometer, keeping both offsets current.
    for (size_t d = s.batch.size(); d-- > 0;) {
      a_offset += a_strides[d];
      b_offset += b_strides[d];
      if (++index[d] < s.batch[d]) break;
      a_offset -= a_strides[d] * s.batch[d];
      b_offset -= b_strides[d] * s.batch[d];
      index[d] = 0;
    }
  }
  return {};
}

Status run_matmul(KernelContext& ctx) {
  MatMulShapes shapes;
  KESTREL_RETURN_IF_ERROR(matmul_shapes(ctx.node(), ctx.input(0).shape(), ctx.input(1).shape(), &shapes));
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) { return matmul_kernel<decltype(tag)>(ctx, shapes); });
}

}  // namespace

void register_gemm_ops(OpRegistry& registry) {
  registry.add({"Gemm", infer_gemm, run_gemm});
  registry.add({"MatMul", infer_matmul, run_matmul});
}

}  // namespace kestrel
