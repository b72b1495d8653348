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

// Attribute of a conv whose weights were also packed for the CPU kernel: a
// uint8 tensor holding them in the kernel's layout. The attribute
// kPackedLayoutAttr ("packed_weights_layout") holds the layout's key (a
// string Kestrel defines: implementation, oneDNN version, fingerprint of the
// layout), never oneDNN's descriptor.
inline constexpr char kPackedWeightsAttr[] = "packed_weights";

// Adds to every accelerated conv its weights packed into the blocked layout
// this CPU's kernel wants, beside the plain weights (which stay), so a
// session on the same CPU and thread count uses them in place (no reorder, no
// copy at load). A session whose kernel wants another layout (another CPU or
// thread count, another oneDNN) packs the plain weights instead.
Status pack_weights_for_cpu(Graph& graph);

// The memory planner's hint: accelerated convs accumulate their Sum input in
// place, so their output may share its bytes.
bool cpu_sums_in_place(const Graph& graph, const Node& node);

// A fast kernel for the node, or null when the node has none (it then runs
// on its reference kernel). Requires static shapes.
StatusOr<std::unique_ptr<FastKernel>> make_cpu_kernel(const Graph& graph, const Node& node);

}  // namespace kestrel
