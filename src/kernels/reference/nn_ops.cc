// The NN op group: convolution, pooling, GEMM, normalization, softmax and
// reductions, each registered by its own file.
#include "kernels/op_registry.h"
#include "kernels/reference/nn_ops_internal.h"

namespace kestrel {

void register_nn_ops(OpRegistry& registry) {
  register_conv_ops(registry);
  register_pool_ops(registry);
  register_gemm_ops(registry);
  register_normalization_ops(registry);
  register_softmax_ops(registry);
  register_reduce_ops(registry);
}

}  // namespace kestrel
