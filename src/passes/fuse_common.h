// Helpers for the fusion passes: which nodes are fusable producers, and how a
// producer takes over its consumer's place.
#pragma once

#include "ir/graph.h"

namespace kestrel {

// Conv / Gemm, or a fused one, on float32.
bool is_fusable_producer(const Graph& graph, const Node& node);
bool has_fused_activation(const Node& node);
bool has_fused_sum(const Node& node);

// Turns Conv/Gemm into FusedConv/FusedGemm (idempotent).
void make_fused(Node& node);

// Moves `producer` into `consumer`'s slot with the consumer's outputs (so the
// result keeps its name and every input of both is already computed there)
// and marks the producer's old slot dead.
void take_over(Graph& graph, size_t producer, size_t consumer, std::vector<char>& dead);

}  // namespace kestrel
