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

// Packs every accelerated conv's weights into the blocked layout this CPU's
// kernel wants, so a session can use them in place (no reorder, no copy at
// load). The graph then only runs on the fast backend of a CPU with the same
// ISA (others reorder the packed weights at load).
Status pack_weights_for_cpu(Graph& graph);

// The memory planner's hint: accelerated convs accumulate their Sum input in
// place, so their output may share its bytes.
bool cpu_sums_in_place(const Graph& graph, const Node& node);

// A fast kernel for the node, or null when the node has none (it then runs
// on its reference kernel). Requires static shapes.
StatusOr<std::unique_ptr<FastKernel>> make_cpu_kernel(const Graph& graph, const Node& node);

}  // namespace kestrel
