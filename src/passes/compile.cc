#include "passes/compile.h"

#include "passes/assign_layout.h"
#include "passes/passes.h"
#include "planner/memory_planner.h"
#include "runtime/cpu_backend.h"

namespace kestrel {

StatusOr<CompiledGraph> compile_for_cpu(Graph graph) {
  KESTREL_RETURN_IF_ERROR(optimize_graph(graph));
  return lower_for_cpu(std::move(graph));
}

StatusOr<CompiledGraph> lower_for_cpu(Graph graph) {
  KESTREL_RETURN_IF_ERROR(assign_layouts(graph, cpu_runs_nhwc));
  KESTREL_RETURN_IF_ERROR(graph.verify().with_context("IR invalid after layout assignment"));
  KESTREL_ASSIGN_OR_RETURN(MemoryPlan plan, plan_memory(graph, cpu_sums_in_place));
  return CompiledGraph{std::move(graph), std::move(plan)};
}

}  // namespace kestrel
