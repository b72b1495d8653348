#include "kernels/op_registry.h"

namespace kestrel {

void register_tensor_ops(OpRegistry& registry) {}

}  // namespace kestrel
