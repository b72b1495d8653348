// Slice (opset 10+ form: starts, ends, axes, steps as inputs). The output is a
// strided view of the input, copied with strided_copy.
#include <algorithm>

#include "kernels/reference/tensor_ops_internal.h"

namespace kestrel::tensor_ops {
namespace {

// Per input axis: first source index, step and output dim.
struct SlicePlan {
  std::vector<int64_t> starts;
  std::vector<int64_t> steps;
  Shape out;
};

struct SliceArgs {
  std::vector<int64_t> starts, ends, axes, steps;
};

// Clamps one axis per the ONNX rules and returns its output dim.
int64_t slice_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t* first) {
  if (dim == 0) {
    *first = 0;
    return 0;
  }
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
  }
  *first = start;
  // Written so that huge steps (INT64_MAX) cannot overflow.
  if (step > 0) return end > start ? (end - start - 1) / step + 1 : 0;
  return start > end ? (start - end - 1) / (-step) + 1 : 0;
}

// Validates the arguments against the input shape and fills the plan.
// Errors carry no node label; callers add it.
Status plan_slice(const Shape& in, const SliceArgs& args, SlicePlan* plan) {
  const auto rank = static_cast<int64_t>(in.size());
  const size_t n = args.starts.size();
  if (args.ends.size() != n) return invalid_argument("starts has ", n, " entries but ends has ", args.ends.size());
  if (args.axes.size() != n) return invalid_argument("axes has ", args.axes.size(), " entries, expected ", n);
  if (args.steps.size() != n) return invalid_argument("steps has ", args.steps.size(), " entries, expected ", n);
  plan->starts.assign(in.size(), 0);
  plan->steps.assign(in.size(), 1);
  plan->out = in;
  std::vector<bool> seen(in.size(), false);
  for (size_t i = 0; i < n; ++i) {
    int64_t axis = args.axes[i];
    if (axis < -rank || axis >= rank) return invalid_argument("axis ", axis, " is out of range for rank ", rank);
    if (axis < 0) axis += rank;
    const auto k = static_cast<size_t>(axis);
    if (seen[k]) return invalid_argument("axis ", args.axes[i], " is repeated in axes");
    seen[k] = true;
    if (args.steps[i] == 0) return invalid_argument("steps[", i, "] is 0");
    plan->steps[k] = args.steps[i];
    if (in[k] < 0) {
      plan->out[k] = -1;
      continue;
    }
    plan->out[k] = slice_axis(in[k], args.starts[i], args.ends[i], args.steps[i], &plan->starts[k]);
  }
  return {};
}

// Reads the argument inputs; axes and steps default to all axes / ones.
Status read_slice_args(const InferContext& ctx, SliceArgs* args) {
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 1, "starts", true));
  KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 2, "ends", true));
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 1, "starts", &args->starts));
  KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 2, "ends", &args->ends));
  if (ctx.has_input(3)) {
    KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 3, "axes", true));
    KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 3, "axes", &args->axes));
  } else {
    for (size_t i = 0; i < args->starts.size(); ++i) args->axes.push_back(static_cast<int64_t>(i));
  }
  if (ctx.has_input(4)) {
    KESTREL_RETURN_IF_ERROR(expect_index_type(ctx, 4, "steps", true));
    KESTREL_RETURN_IF_ERROR(read_int_input(ctx, 4, "steps", &args->steps));
  } else {
    args->steps.assign(args->starts.size(), 1);
  }
  return {};
}

Status infer_slice(InferContext& ctx) {
  if (ctx.opset() < 10) return unimplemented(ctx.node().label(), ": Slice before opset 10 is not supported");
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(3, 5));
  KESTREL_RETURN_IF_ERROR(expect_storable(ctx, 0));
  SliceArgs args;
  KESTREL_RETURN_IF_ERROR(read_slice_args(ctx, &args));
  SlicePlan plan;
  const Status status = plan_slice(ctx.input_shape(0), args, &plan);
  if (!status.ok()) return ctx.error(status.message());
  ctx.set_output(0, ctx.input_dtype(0), std::move(plan.out));
  return {};
}

Status run_slice(KernelContext& ctx) {
  const Tensor& src = ctx.input(0);
  SliceArgs args;
  args.starts = ctx.input(1).to_int64s();
  args.ends = ctx.input(2).to_int64s();
  if (ctx.has_input(3)) {
    args.axes = ctx.input(3).to_int64s();
  } else {
    for (size_t i = 0; i < args.starts.size(); ++i) args.axes.push_back(static_cast<int64_t>(i));
  }
  args.steps = ctx.has_input(4) ? ctx.input(4).to_int64s() : std::vector<int64_t>(args.starts.size(), 1);
  SlicePlan plan;
  const Status status = plan_slice(src.shape(), args, &plan);
  if (!status.ok()) return ctx.error(status.message());
  const std::vector<int64_t> in_strides = strides_of(src.shape());
  int64_t offset = 0;
  std::vector<int64_t> strides(in_strides.size());
  for (size_t k = 0; k < in_strides.size(); ++k) {
    offset += plan.starts[k] * in_strides[k];
    strides[k] = plan.steps[k] * in_strides[k];
  }
  return strided_copy(src, offset, plan.out, strides, ctx.output(0));
}

}  // namespace

void register_slice_ops(OpRegistry& registry) { registry.add({"Slice", infer_slice, run_slice}); }

}  // namespace kestrel::tensor_ops
