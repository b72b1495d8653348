// Cross-layer equalization (`kestrel convert --cross-layer-equalization`)
// for conv pairs around depthwise convs: A -> activation -> B, where A or B
// is depthwise and A's output is read by B alone.
//
// Output channel i of A is divided by s_i (its weights and bias) and input
// channel i of B multiplied by s_i, with s_i = sqrt(r1_i / r2_i), r1_i the
// largest |weight| of A's output channel i and r2_i that of B's input
// channel i: both become sqrt(r1_i * r2_i), so one per-tensor weight scale
// (or the activation scale between them) fits every channel better. Pairs
// are swept in graph order, several times, since a depthwise conv is the B
// of one pair and the A of the next.
//
// The network computes the same function exactly through no activation or
// a ReLU (positively homogeneous). Through Clip(0, c) (ReLU6) it does only
// while channel i never reaches c: A's scaled channel is clipped at c, that
// is the original one at c * s_i. So a channel whose output reached the bound
// on the sample images keeps s_i = 1, and the others keep s_i large enough
// that their largest sample output stays below c / kClipMargin after scaling.
// Other activations, and an A with a fused residual sum, are not paired.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/sample_batches.h"

namespace kestrel {

inline constexpr int kEqualizationSweeps = 4;
inline constexpr double kClipMargin = 1.5;

struct EqualizedPair {
  std::string first, second;  // node names of A and B
  int64_t channels = 0;
  int64_t held = 0;  // channels kept at s = 1 by a Clip bound
  // max over channels / min over channels of A's per-channel weight range,
  // before and after.
  double spread_before = 0, spread_after = 0;
  std::vector<float> scales;  // s_i, the product over sweeps
};

struct EqualizationPlan {
  int64_t images = 0;  // sample images the Clip bounds were checked on
  std::vector<EqualizedPair> pairs;
};

// The pairs of `optimized` (fused FP32 graph, static shapes) and their
// scales; the graph is not changed. `samples` (at its input shape) give the
// per-channel maxima behind Clip activations.
StatusOr<EqualizationPlan> plan_equalization(const Graph& optimized, const SampleBatches& samples, int threads);

// Rescales the weights of every pair of `plan` in `graph` (the same model,
// optimized at any batch). Fails when a pair's nodes are missing or changed.
Status apply_equalization(Graph& graph, const EqualizationPlan& plan);

}  // namespace kestrel
