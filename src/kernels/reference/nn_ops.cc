#include "kernels/op_registry.h"

namespace kestrel {

void register_nn_ops(OpRegistry& registry) {}

}  // namespace kestrel
