// Activations: Relu, LeakyRelu, PRelu, Clip, Sigmoid, HardSigmoid,
// HardSwish, Tanh, Erf.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/reference/broadcast.h"
#include "kernels/reference/elementwise_common.h"

namespace kestrel::elementwise {
namespace {

Status infer_float_unary(InferContext& ctx) { return infer_same_as_input(ctx, kFloatTypes); }

// ---- Relu: integer types joined at opset 14.
Status infer_relu(InferContext& ctx) {
  return infer_same_as_input(ctx, ctx.opset() >= 14 ? kFloatTypes | kSignedIntTypes : kFloatTypes);
}

Status run_relu(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Written so that NaN passes through, as numpy's maximum does.
    map_elements<T, T>(ctx.input(0), ctx.output(0), [](T x) { return x < T(0) ? T(0) : x; });
    return Status{};
  });
}

// ---- LeakyRelu
Status run_leaky_relu(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 0.01f);
  return run_float_map(ctx, [alpha](auto x) {
    using T = decltype(x);
    return x < T(0) ? static_cast<T>(alpha) * x : x;
  });
}

// ---- PRelu: slope broadcasts to X, never the other way.
Status infer_prelu(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(2, 2));
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kFloatTypes | kWideIntTypes));
  KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  if (!broadcasts_to(ctx.input_shape(1), ctx.input_shape(0))) {
    return ctx.error("slope shape ", shape_string(ctx.input_shape(1)), " does not broadcast to input shape ",
                     shape_string(ctx.input_shape(0)));
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return {};
}

Status run_prelu(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    broadcast_binary<T, T, T>(ctx.input(0), ctx.input(1), ctx.output(0),
                              [](T x, T slope) { return x < T(0) ? T(slope * x) : x; });
    return Status{};
  });
}

// ---- Clip: bounds were float attributes before opset 11, optional scalar
// inputs from 11; integer types joined at opset 12.
Status infer_clip(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(expect_outputs(ctx, 1, 1));
  if (ctx.opset() < 11) {
    KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
    KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kFloatTypes));
  } else {
    KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 3));
    KESTREL_RETURN_IF_ERROR(check_input_dtype(ctx, 0, ctx.opset() >= 12 ? kNumericTypes : kFloatTypes));
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
      if (!ctx.has_input(i)) continue;
      KESTREL_RETURN_IF_ERROR(check_same_dtype(ctx, 0, i));
      KESTREL_RETURN_IF_ERROR(check_single_element(ctx, i, i == 1 ? "min" : "max"));
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return {};
}

template <typename T>
T clip_bound(const KernelContext& ctx, size_t input, const char* attr, T fallback) {
  if (ctx.opset() < 11) {
    if (!ctx.attrs().has(attr)) return fallback;
    return static_cast<T>(ctx.attrs().get_float(attr, 0.0f));
  }
  return ctx.has_input(input) ? ctx.input(input).data<T>()[0] : fallback;
}

Status run_clip(KernelContext& ctx) {
  return dispatch_numeric(ctx.input(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T lo = clip_bound<T>(ctx, 1, "min", std::numeric_limits<T>::lowest());
    const T hi = clip_bound<T>(ctx, 2, "max", std::numeric_limits<T>::max());
    // When lo > hi every element becomes hi, as the spec asks; NaN passes.
    map_elements<T, T>(ctx.input(0), ctx.output(0), [lo, hi](T x) {
      const T raised = x < lo ? lo : x;
      return raised > hi ? hi : raised;
    });
    return Status{};
  });
}

// ---- Sigmoid, Tanh, Erf
Status run_sigmoid(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) {
    using T = decltype(x);
    // Two branches so that exp never overflows.
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  });
}

Status run_tanh(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return std::tanh(x); });
}

Status run_erf(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) { return std::erf(x); });
}

// ---- HardSigmoid, HardSwish
template <typename T>
T hard_sigmoid(T x, T alpha, T beta) {
  return std::max(T(0), std::min(T(1), alpha * x + beta));
}

Status run_hard_sigmoid(KernelContext& ctx) {
  const float alpha = ctx.attrs().get_float("alpha", 0.2f);
  const float beta = ctx.attrs().get_float("beta", 0.5f);
  return run_float_map(ctx, [=](auto x) {
    using T = decltype(x);
    return hard_sigmoid(x, static_cast<T>(alpha), static_cast<T>(beta));
  });
}

Status infer_hard_swish(InferContext& ctx) {
  if (ctx.opset() < 14) return ctx.error("HardSwish needs opset 14 or later, the model has opset ", ctx.opset());
  return infer_float_unary(ctx);
}

Status run_hard_swish(KernelContext& ctx) {
  return run_float_map(ctx, [](auto x) {
    using T = decltype(x);
    return x * hard_sigmoid(x, T(1) / T(6), T(0.5));
  });
}

}  // namespace

void register_activation_ops(OpRegistry& registry) {
  registry.add({"Relu", infer_relu, run_relu});
  registry.add({"LeakyRelu", infer_float_unary, run_leaky_relu});
  registry.add({"PRelu", infer_prelu, run_prelu});
  registry.add({"Clip", infer_clip, run_clip});
  registry.add({"Sigmoid", infer_float_unary, run_sigmoid});
  registry.add({"HardSigmoid", infer_float_unary, run_hard_sigmoid});
  registry.add({"HardSwish", infer_hard_swish, run_hard_swish});
  registry.add({"Tanh", infer_float_unary, run_tanh});
  registry.add({"Erf", infer_float_unary, run_erf});
}

}  // namespace kestrel::elementwise
