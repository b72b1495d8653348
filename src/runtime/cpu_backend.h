// The fast CPU backend: which nodes run on oneDNN primitives (channels-last
// float32) and the kernels that run them. Everything else runs on the
// reference kernels.
#pragma once

#include <memory>

#include "base/status.h"
#include "ir/graph.h"
#include "runtime/fast_kernel.h"

namespace kestrel {

// The layout pass's predicate: true for the nodes make_cpu_kernel accelerates
// with NHWC activations.
bool cpu_runs_nhwc(const Graph& graph, const Node& node);

// A fast kernel for the node, or null when the node has none (it then runs
// on its reference kernel). Requires static shapes.
StatusOr<std::unique_ptr<FastKernel>> make_cpu_kernel(const Graph& graph, const Node& node);

}  // namespace kestrel
