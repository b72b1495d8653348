// PreprocessFrame (domain "kestrel"): raw uint8 camera frames to the model
// input, the preprocessing a model converted with --bake-preprocess runs as
// its first node (kernels/image_preprocess.h, docs/preprocessing.md).
#include <vector>

#include "kernels/image_preprocess.h"
#include "kernels/op_registry.h"

namespace kestrel {
namespace {

Status infer_preprocess_frame(InferContext& ctx) {
  KESTREL_RETURN_IF_ERROR(ctx.expect_inputs(1, 1));
  if (ctx.input_dtype(0) != DType::kUInt8) {
    return ctx.error("frames must be uint8, got ", dtype_name(ctx.input_dtype(0)));
  }
  KESTREL_ASSIGN_OR_RETURN(const FrameStage stage, read_frame_stage(ctx.node(), ctx.input_shape(0)));
  ctx.set_output(0, stage.output.dtype, stage.output_shape);
  return {};
}

Status run_preprocess_frame(KernelContext& ctx) {
  KESTREL_ASSIGN_OR_RETURN(const FrameStage stage, read_frame_stage(ctx.node(), ctx.input(0).shape()));
  std::vector<uint8_t> scratch(static_cast<size_t>(frame_scratch_bytes(stage.frame)));
  const int64_t in_bytes = frame_bytes(stage.frame);
  const int64_t out_bytes = static_cast<int64_t>(ctx.output(0).nbytes()) / std::max<int64_t>(stage.batch, 1);
  const auto* frames = static_cast<const uint8_t*>(ctx.input(0).raw_data());
  auto* out = static_cast<uint8_t*>(ctx.output(0).raw_data());
  for (int64_t n = 0; n < stage.batch; ++n) {
    KESTREL_RETURN_IF_ERROR(preprocess_frame(stage.frame, stage.spec, frames + n * in_bytes, scratch.data(),
                                             stage.output, out + n * out_bytes)
                                .with_context(ctx.node().label()));
  }
  return {};
}

}  // namespace

void register_preprocess_frame_op(OpRegistry& registry) {
  registry.add({kPreprocessFrameOp, infer_preprocess_frame, run_preprocess_frame});
}

}  // namespace kestrel
