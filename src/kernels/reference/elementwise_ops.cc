#include "kernels/op_registry.h"

namespace kestrel {

void register_elementwise_ops(OpRegistry& registry) {}

}  // namespace kestrel
