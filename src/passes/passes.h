// Graph rewrites. Each pass takes a graph with inferred shapes and leaves one
// that computes the same outputs; optimize_graph runs them in order.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

using PassFn = Status (*)(Graph&);

struct Pass {
  const char* name;
  PassFn run;
};

// Identity, inference-mode Dropout and Pad by zero become plain edges.
Status eliminate_identity(Graph& graph);
// Nodes whose outputs nobody reads are removed.
Status eliminate_dead_nodes(Graph& graph);
// Nodes whose inputs are all constants are evaluated once and removed.
Status fold_constants(Graph& graph);
// BatchNormalization folds into the Conv/Gemm before it, or becomes Mul+Add.
Status fold_batch_norm(Graph& graph);
// ReduceMean over H and W of a 4-D activation becomes GlobalAveragePool (+ Flatten without keepdims).
Status global_average_pool(Graph& graph);
// LayerNorm over the last axis written out (ReduceMean, Sub, Pow, ..., Add) becomes LayerNormalization.
Status fuse_layer_norm(Graph& graph);
// MatMul by a constant [K, N] (plus an Add of a constant [N] bias) becomes Gemm on X as [M, K].
Status matmul_to_gemm(Graph& graph);
// Pow(x, 2) becomes Mul(x, x).
Status square_pow(Graph& graph);
// Flatten followed by Gemm becomes one FusedGemm reading the unflattened input.
Status fuse_flatten_gemm(Graph& graph);
// Add(Conv(x), y) becomes FusedConv with y as its Sum input.
Status fuse_residual_add(Graph& graph);
// Relu/Clip/LeakyRelu/Sigmoid/HardSigmoid/HardSwish/SiLU after Conv/Gemm fuse into it.
Status fuse_activation(Graph& graph);

// Mul(X [N,C,H,W], S [N,C,1,1]) (squeeze-excitation) becomes ChannelScale(X, S).
Status fuse_channel_scale(Graph& graph);
// Mul/Add of a 4-D activation by a constant [C,1,1] becomes ChannelAffine.
Status channel_constants_to_affine(Graph& graph);
// Reshape -> Transpose (0,2,1,3,4) -> Reshape back (ShuffleNet) becomes ChannelShuffle.
Status fuse_channel_shuffle(Graph& graph);
// The default pipeline, in order.
const std::vector<Pass>& default_passes();

// Runs `passes`; with `verify` (always in debug builds) the IR verifier runs
// after each pass and an error names the pass that broke the graph.
Status run_passes(Graph& graph, const std::vector<Pass>& passes, bool verify = false);

// infer_shapes + default passes.
Status optimize_graph(Graph& graph);

}  // namespace kestrel
