// Pad, opset 11+ form (pads and constant_value as inputs; no axes input).
// The kernel maps every output index of every axis to a source index (or
// to "constant") once, then walks the output in order.
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/dispatch.h"
#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

enum class PadMode { kConstant, kReflect, kEdge };

Status parse_mode(const std::string& name, PadMode* mode) {
  if (name == "constant") *mode = PadMode::kConstant;
  else if (name == "reflect") *mode = PadMode::kReflect;
  else if (name == "edge") *mode = PadMode::kEdge;
  else return invalid_argument("mode must be constant, reflect or edge, got '", name, "'");
  return {};
}

Status check_constant_value(const InferContext& ctx) {
  if (!ctx.has_input(2)) return {};
  if (ctx.input_dtype(2) != ctx.input_dtype(0)) {
    return ctx.error("constant_value is ", dtype_name(ctx.input_dtype(2)), " but the data is ",
                     dtype_name(ctx.input_dtype(0)));
  }
  const Shape& shape = ctx.input_shape(2);
  if (shape.size() > 1 || shape_size(shape) != 1) {
    return ctx.error("constant_value must be a scalar, got shape ", shape_string(shape));
  }
  return {};
}

Status infer_pad(InferContext& ctx) {
  if (ctx.opset() < 11) return unimplemented(ctx.node().label(), ": Pad before opset 11 is not supported");
  if (ctx.has_input(3)) {
    return unimplemented(ctx.node().label(), ": the axes input of Pad (opset 18) is not supported");
  }
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 3));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  PadMode mode = PadMode::kConstant;
  const Status mode_status = parse_mode(ctx.attrs().get_string("mode", "constant"), &mode);
  if (!mode_status.ok()) return ctx.error(mode_status.message());
  KESTREL_RETURN_IF_ERROR(check_constant_value(ctx));
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "pads"));
  std::vector<int64_t> pads;
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 1, "pads", &pads));
  const Shape& in = ctx.input_shape(0);
  const size_t rank = in.size();
  if (pads.size() != 2 * rank) {
    return ctx.error("pads has ", pads.size(), " entries but the input has rank ", rank, " (expected ", 2 * rank, ")");
  }
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t begin = pads[k], end = pads[k + rank];
    if (in[k] < 0) {
      out[k] = -1;
      continue;
    }
    if (__builtin_add_overflow(in[k], begin, &out[k]) || __builtin_add_overflow(out[k], end, &out[k])) {
      return ctx.error("pads ", shape_string(pads), " make axis ", k, " larger than 64-bit sizes can count");
    }
    if (out[k] < 0) return ctx.error("pads ", shape_string(pads), " remove more than axis ", k, " holds");
    if (mode != PadMode::kConstant && in[k] == 0 && out[k] > 0) {
      return ctx.error("cannot pad the empty axis ", k, " in mode ", ctx.attrs().get_string("mode", ""));
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return {};
}

// Source index along one axis for output index `o` (pads[begin] before it),
// or -1 for the constant.
int64_t source_index(PadMode mode, int64_t o, int64_t begin, int64_t dim) {
  const int64_t i = o - begin;
  if (i >= 0 && i < dim) return i;
  switch (mode) {
    case PadMode::kConstant: return -1;
    case PadMode::kEdge: return i < 0 ? 0 : dim - 1;
    case PadMode::kReflect: {
      if (dim == 1) return 0;
      // Reflection without repeating the edge is periodic in 2 * (dim - 1).
      const int64_t period = 2 * (dim - 1);
      int64_t m = i % period;
      if (m < 0) m += period;
      return m < dim ? m : period - m;
    }
  }
  return -1;
}

template <typename T>
struct PadWriter {
  const std::vector<std::vector<int64_t>>& maps;  // per axis: source index or -1
  const std::vector<int64_t>& src_strides;
  const std::vector<int64_t>& dst_blocks;  // output elements under one index of each axis
  T value;
  const T* src;
  T* dst;

  void fill(size_t axis, int64_t src_pos) {
    const bool last = axis + 1 == maps.size();
    for (int64_t s : maps[axis]) {
      if (last) {
        *dst++ = s < 0 ? value : src[src_pos + s];
      } else if (s < 0) {
        std::fill_n(dst, dst_blocks[axis], value);
        dst += dst_blocks[axis];
      } else {
        fill(axis + 1, src_pos + s * src_strides[axis]);
      }
    }
  }
};

Status run_pad(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  Tensor& dst = ctx.output(0);
  if (src.rank() == 0) return copy_input_kernel(ctx);
  if (dst.size() == 0) return {};
  PadMode mode = PadMode::kConstant;
  KESTREL_RETURN_IF_ERROR(parse_mode(ctx.attrs().get_string("mode", "constant"), &mode));
  const std::vector<int64_t> pads = ctx.input(1).to_int64s();
  const size_t rank = src.shape().size();
  std::vector<std::vector<int64_t>> maps(rank);
  for (size_t k = 0; k < rank; ++k) {
    for (int64_t o = 0; o < dst.dim(static_cast<int64_t>(k)); ++o) {
      maps[k].push_back(source_index(mode, o, pads[k], src.dim(static_cast<int64_t>(k))));
    }
  }
  const std::vector<int64_t> src_strides = strides_of(src.shape());
  const std::vector<int64_t> dst_blocks = strides_of(dst.shape());
  const bool has_value = ctx.has_input(2) && mode == PadMode::kConstant;
  return dispatch_by_size(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T value{};
    if (has_value) std::memcpy(&value, ctx.input(2).raw_data(), sizeof(T));
    PadWriter<T> writer{maps, src_strides, dst_blocks, value, src.data<T>(), dst.data<T>()};
    writer.fill(0, 0);
    return Status{};
  });
}

}  // namespace

void register_pad_ops(OpRegistry& registry) { registry.add({"Pad", infer_pad, run_pad}); }

}  // namespace kestrel::tensor_ops
