// The fast CPU backend: oneDNN primitives and Kestrel's own kernels on
// channels-last activations, entered through the implementation registry
// (runtime/implementation.h). Every function below asks the registry for the
// node's implementation, so they cannot disagree; nodes no fast
// implementation takes run on the reference kernels.
#pragma once

#include <memory>

#include "base/status.h"
#include "ir/graph.h"
#include "runtime/fast_kernel.h"
#include "runtime/implementation.h"

namespace kestrel {

// The layout pass's predicate: true when the node's implementation reads and
// writes NHWC activations.
bool cpu_runs_nhwc(const Graph& graph, const Node& node);

// Attribute of a conv whose weights were also packed for the CPU kernel: a
// uint8 tensor holding them in the kernel's layout. The attribute
// kPackedLayoutAttr ("packed_weights_layout") holds the layout's key (a
// string Kestrel defines: implementation, oneDNN version, fingerprint of the
// layout), never oneDNN's descriptor.
inline constexpr char kPackedWeightsAttr[] = "packed_weights";

// Adds to every node whose implementation packs weights (oneDNN convs) its
// weights packed into the blocked layout this CPU's kernel wants, beside the plain weights (which stay), so a
// session on the same CPU and thread count uses them in place (no reorder, no
// copy at load). A session whose kernel wants another layout (another CPU or
// thread count, another oneDNN) packs the plain weights instead.
Status pack_weights_for_cpu(Graph& graph);

// The memory planner's hint: the node's implementation accumulates its Sum
// input in place (oneDNN convs), so its output may share the Sum's bytes.
bool cpu_sums_in_place(const Graph& graph, const Node& node);

// A fast kernel for the node, or null when the node has none (it then runs
// on its reference kernel). Requires static shapes.
StatusOr<std::unique_ptr<FastKernel>> make_cpu_kernel(const Graph& graph, const Node& node);

}  // namespace kestrel
