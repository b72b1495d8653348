// Type conversion and pass-through ops: Cast, Identity, Dropout (inference).
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/reference/elementwise_common.h"

namespace kestrel::elementwise {
namespace {

// ---- Cast
// float64 -> float16 through float32 could round twice; rounding the
// intermediate to odd (truncate, then set the last bit when inexact) keeps
// the final round-to-nearest-even exact.
uint16_t double_to_half(double value) {
  float narrowed = static_cast<float>(value);
  if (std::isfinite(value) && static_cast<double>(narrowed) != value) {
    if (std::fabs(static_cast<double>(narrowed)) > std::fabs(value)) narrowed = std::nextafter(narrowed, 0.0f);
    uint32_t bits;
    std::memcpy(&bits, &narrowed, sizeof bits);
    bits |= 1;
    std::memcpy(&narrowed, &bits, sizeof bits);
  }
  return float_to_half(narrowed);
}

template <typename D, typename S>
D convert_element(S value) {
  if constexpr (std::is_same_v<S, Half>) {
    return convert_element<D>(half_to_float(value.bits));
  } else if constexpr (std::is_same_v<D, Half>) {
    if constexpr (std::is_same_v<S, double>) return Half{double_to_half(value)};
    else return Half{float_to_half(static_cast<float>(value))};
  } else if constexpr (std::is_same_v<D, bool>) {
    return value != S(0);
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    return saturate_cast<D>(value);
  } else {
    // Integer to narrower integer wraps (C++20 defines it), as numpy's astype does.
    return static_cast<D>(value);
  }
}

// Every type Cast converts between: numeric, bool and float16.
template <typename F>
Status dispatch_castable(DType dtype, F&& fn) {
  if (dtype == DType::kFloat16) return fn(Half{});
  return dispatch_numeric_or_bool(dtype, fn);
}

Status infer_cast(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  if (!ctx.attrs().has("to")) return ctx.error("missing required attribute 'to'");
  const int64_t to = ctx.attrs().get_int("to", 0);
  const DType from = ctx.input_dtype(0);
  if (from == DType::kString || to == static_cast<int64_t>(DType::kString)) {
    return unimplemented(ctx.node().label(), ": Cast from or to string is not supported");
  }
  if (to == 16) return unimplemented(ctx.node().label(), ": Cast to bfloat16 is not supported");
  const DType target = dtype_from_int(static_cast<int32_t>(to));
  if (!dtype_is_supported(target) || to != static_cast<int64_t>(target)) {
    return ctx.error("attribute 'to' = ", to, " is not a known element type");
  }
  if (!dtype_is_supported(from)) {
    return unimplemented(ctx.node().label(), ": Cast from ", dtype_name(from), " is not supported");
  }
  ctx.set_output(0, target, ctx.input_shape(0));
  return {};
}

Status run_cast(KernelContext& ctx) {
  return dispatch_castable(ctx.input(0).dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    return dispatch_castable(ctx.output(0).dtype(), [&](auto dst_tag) {
      using D = decltype(dst_tag);
      map_elements<S, D>(ctx.input(0), ctx.output(0), [](S x) { return convert_element<D>(x); });
      return Status{};
    });
  });
}

// ---- Identity
Status infer_identity(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  if (!dtype_is_supported(ctx.input_dtype(0))) {
    return unimplemented(ctx.node().label(), ": element type ", dtype_name(ctx.input_dtype(0)), " is not supported");
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return {};
}

Status run_copy(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  if (src.nbytes() != 0) std::memcpy(ctx.output(0).raw_data(), src.raw_data(), src.nbytes());
  return {};
}

// ---- Dropout: inference only, so Y = X and the mask is all true. The ratio
// was an attribute before opset 12 and is an input (with training_mode) since.
Status training_mode_error(const Node& node) { return unimplemented(node.label(), ": training mode is not supported"); }

Status check_dropout_inputs(const InferContext& ctx) {
  if (ctx.has_input(1)) {
    KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 1, kFloatTypes));
    KESTREL_RETURN_IF_ERROR(check_single_element(ctx, 1, "ratio"));
    if (const Tensor* ratio = ctx.input_data(1)) {
      const double r = ratio->float_at(0);
      if (!(r >= 0.0 && r < 1.0)) return ctx.error("ratio must be in [0, 1), got ", r);
    }
  }
  if (ctx.has_input(2)) {
    if (ctx.input_dtype(2) != DType::kBool) {
      return ctx.error("training_mode (input 2) must be bool, got ", dtype_name(ctx.input_dtype(2)));
    }
    KESTREL_RETURN_IF_ERROR(check_single_element(ctx, 2, "training_mode"));
    const Tensor* training = ctx.input_data(2);
    if (training != nullptr && training->data<bool>()[0]) return training_mode_error(ctx.node());
  }
  return {};
}

Status infer_dropout(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, ctx.opset() >= 12 ? 3 : 1));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 2));
  KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kFloatTypes | dtype_bit(DType::kFloat16)));
  if (ctx.opset() >= 12) KESTREL_RETURN_IF_ERROR(check_dropout_inputs(ctx));
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  ctx.set_output(1, DType::kBool, ctx.input_shape(0));
  return {};
}

Status run_dropout(KernelContext& ctx) {
  // training_mode may only be known now if it was not a constant.
  if (ctx.has_input(2) && ctx.input(2).data<bool>()[0]) return training_mode_error(ctx.node());
  KESTREL_RETURN_IF_ERROR(run_copy(ctx));
  if (ctx.num_outputs() > 1) {
    Tensor& mask = ctx.output(1);
    for (int64_t i = 0; i < mask.size(); ++i) mask.data<bool>()[i] = true;
  }
  return {};
}

}  // namespace

void register_cast_ops(OpRegistry& registry) {
  registry.add({"Cast", infer_cast, run_cast});
  registry.add({"Identity", infer_identity, run_copy});
  registry.add({"Dropout", infer_dropout, run_dropout});
}

}  // namespace kestrel::elementwise
