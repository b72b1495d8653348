// The compiler pipeline for the CPU backend: shape inference, graph passes,
// layout assignment, memory planning.
#pragma once

#include "base/status.h"
#include "format/memory_plan.h"
#include "ir/graph.h"

namespace kestrel {

struct CompiledGraph {
  Graph graph;
  MemoryPlan plan;
};

// `graph` must have static input shapes (set_input_shapes first).
StatusOr<CompiledGraph> compile_for_cpu(Graph graph);

// The back half of compile_for_cpu, for a graph already optimized (and
// possibly quantized): layouts, then the memory plan.
StatusOr<CompiledGraph> lower_for_cpu(Graph graph);

}  // namespace kestrel
