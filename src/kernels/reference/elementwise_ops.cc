#include "kernels/reference/elementwise_common.h"

namespace kestrel {

void register_elementwise_ops(OpRegistry& registry) {
  elementwise::register_activation_ops(registry);
  elementwise::register_unary_math_ops(registry);
  elementwise::register_binary_ops(registry);
  elementwise::register_variadic_ops(registry);
  elementwise::register_cast_ops(registry);
  elementwise::register_quantize_ops(registry);
}

namespace elementwise {

std::string dtype_set_string(DTypeSet set) {
  std::string names;
  for (int code = 0; code < 32; ++code) {
    if ((set & (DTypeSet{1} << code)) == 0) continue;
    if (!names.empty()) names += ", ";
    names += dtype_name(static_cast<DType>(code));
  }
  return names;
}

Status expect_outputs(const InferContext& ctx, size_t min, size_t max) {
  const size_t n = ctx.num_outputs();
  if (n < min || n > max) {
    return ctx.error("expects ", min, min == max ? "" : str_cat(" to ", max), " outputs, got ", n);
  }
  return {};
}

Status check_input_dtype(const InferContext& ctx, size_t i, DTypeSet supported) {
  const DType dtype = ctx.input_dtype(i);
  if ((supported & dtype_bit(dtype)) != 0) return {};
  if (dtype == DType::kFloat16) {
    return unimplemented(ctx.node().label(), ": input ", i, " is float16, which only Cast supports");
  }
  return ctx.error("input ", i, " has element type ", dtype_name(dtype), "; ", ctx.node().op_type, " at opset ",
                   ctx.opset(), " accepts ", dtype_set_string(supported));
}

Status check_same_dtype(const InferContext& ctx, size_t i, size_t j) {
  if (ctx.input_dtype(i) == ctx.input_dtype(j)) return {};
  return ctx.error("inputs ", i, " and ", j, " must have the same element type, got ", dtype_name(ctx.input_dtype(i)),
                   " and ", dtype_name(ctx.input_dtype(j)));
}

Status check_single_element(const InferContext& ctx, size_t i, const char* what) {
  const Shape& shape = ctx.input_shape(i);
  if (shape.empty() || (shape.size() == 1 && shape[0] == 1)) return {};
  return ctx.error(what, " (input ", i, ") must be a scalar, got shape ", shape_string(shape));
}

Status infer_same_as_input(InferContext& ctx, DTypeSet supported) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, supported));
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return {};
}

}  // namespace elementwise
}  // namespace kestrel
