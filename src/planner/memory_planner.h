// Liveness-based memory planning: every intermediate activation gets an
// offset in one arena, and values whose lifetimes do not overlap share bytes.
#pragma once

#include "base/status.h"
#include "format/memory_plan.h"
#include "ir/graph.h"

namespace kestrel {

inline constexpr int64_t kArenaAlignment = 64;

// True when the node's kernel accumulates its Sum input (input 3) in place,
// so its output may share the Sum input's bytes when that is the input's
// last use (a residual connection then costs no copy).
using SumInPlacePredicate = bool (*)(const Graph& graph, const Node& node);

// Requires static shapes (infer_shapes). Graph inputs, outputs and constants
// are left out of the arena. Sizes are overflow-checked: a value or an arena
// beyond 2^61 bytes is an error naming the value. The limit a caller sets on
// the arena is in planner/arena_limit.h.
StatusOr<MemoryPlan> plan_memory(const Graph& graph, SumInPlacePredicate sum_in_place = nullptr);

// Bytes all intermediate activations would take without reuse (INT64_MAX
// when that overflows).
int64_t total_activation_bytes(const Graph& graph);

}  // namespace kestrel
