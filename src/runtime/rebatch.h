// Variable batch: a model converted with `--max-batch N` is compiled (shapes
// inferred, layouts assigned, memory planned) at batch N and runs any batch
// 1..N. A session for batch b runs the same nodes on the same weights with
// dim 0 of the batch-major values set to b; the memory plan made for N holds
// every smaller batch at the same offsets, since no buffer grows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "format/memory_plan.h"
#include "ir/graph.h"

namespace kestrel {

// The model-file metadata key holding N for a variable-batch model.
inline constexpr std::string_view kMaxBatchKey = "max_batch";

// N from a model file's metadata: 0 for a model compiled for one batch (no
// key), otherwise the key's value, which must be graph_batch(graph) (a
// mismatch or a non-number is a damaged file, named in the error).
StatusOr<int64_t> model_max_batch(const std::vector<std::pair<std::string, std::string>>& metadata, const Graph& graph);

// Dim 0 of the graph inputs, which must all have one (rank >= 1) and agree.
StatusOr<int64_t> graph_batch(const Graph& graph);

// The compiled graph, whose inputs have batch N = graph_batch(graph), at
// batch 1 <= `batch` <= N. Shape-carrying constants and attributes whose
// leading entry is N (Reshape/Expand targets, LayoutView shapes) follow the
// batch; then every node's output shapes are inferred again, and each must be
// its batch-N shape with dim 0 scaled to `batch` (a value whose dim 0 is not N
// must not change). A model that mixes items of the batch, or folds N into
// another dim, fails that check, naming the node.
StatusOr<Graph> rebatch_graph(const Graph& graph, int64_t batch);

// The memory plan for a graph rebatch_graph made from the batch-N graph,
// given the batch-N plan: none (outside the arena) for the shape constants it
// added, and the same offsets, which hold any smaller batch. The converter
// writes a variable-batch model's plan as its batch-1 plan with every offset
// and the arena times N; then batch b gets offsets / N * b, as compact as a
// plan made for batch b, where that plan passes the session's checks.
MemoryPlan rebatched_plan(const MemoryPlan& plan, const Graph& rebatched, int64_t full_batch, int64_t batch);

}  // namespace kestrel
