#include "passes/passes.h"
#include "passes/shape_inference.h"

namespace kestrel {

const std::vector<Pass>& default_passes() {
  static const std::vector<Pass> passes = {
      {"eliminate_identity", eliminate_identity},
      {"fold_constants", fold_constants},
      {"eliminate_identity", eliminate_identity},  // again: Pads whose pads were computed
      {"eliminate_dead_nodes", eliminate_dead_nodes},
      {"fold_batch_norm", fold_batch_norm},
      {"global_average_pool", global_average_pool},
      {"fuse_layer_norm", fuse_layer_norm},
      {"matmul_to_gemm", matmul_to_gemm},
      {"square_pow", square_pow},
      {"fuse_flatten_gemm", fuse_flatten_gemm},
      {"fuse_residual_add", fuse_residual_add},
      {"fuse_activation", fuse_activation},
      {"fuse_channel_scale", fuse_channel_scale},
      {"channel_constants_to_affine", channel_constants_to_affine},
      {"fuse_channel_shuffle", fuse_channel_shuffle},
      {"eliminate_dead_nodes", eliminate_dead_nodes},
  };
  return passes;
}

Status run_passes(Graph& graph, const std::vector<Pass>& passes, bool verify) {
#ifndef NDEBUG
  verify = true;
#endif
  for (const Pass& pass : passes) {
    KESTREL_RETURN_IF_ERROR(pass.run(graph).with_context(pass.name));
    if (verify) KESTREL_RETURN_IF_ERROR(graph.verify().with_context(str_cat("IR invalid after pass ", pass.name)));
  }
  return {};
}

Status optimize_graph(Graph& graph) {
  KESTREL_RETURN_IF_ERROR(infer_shapes(graph));
  KESTREL_RETURN_IF_ERROR(run_passes(graph, default_passes()));
  return infer_shapes(graph);
}

}  // namespace kestrel
