// Helpers for the fusion passes: which nodes are fusable producers, and how a
// producer takes over its consumer's place.
#pragma once

#include <optional>
#include <vector>

#include "ir/graph.h"

namespace kestrel {

// GELU as exporters write it out (PyTorch below opset 20):
//   Div(x, sqrt 2) -> Erf -> Add(., 1) -> Mul(x, .) -> Mul(., 0.5)
// (operand order of the Add and Muls free). The five nodes' indices and the
// value they compute, when `x` is read by exactly that pattern.
struct GeluMatch {
  std::vector<size_t> nodes;
  ValueId output = kNoValue;
};
std::optional<GeluMatch> match_gelu(const Graph& graph, const std::vector<std::vector<size_t>>& consumers, ValueId x);

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
