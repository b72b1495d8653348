#include "quant/equalization.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <set>

#include "kernels/activation.h"
#include "passes/fuse_common.h"
#include "passes/graph_edit.h"
#include "quant/quantize_graph.h"
#include "quant/sample_batches.h"

namespace kestrel {
namespace {

// Scales outside [1 / kMaxScale, kMaxScale] are not worth the risk of
// denormal or overflowing weights.
constexpr double kMaxScale = 1024.0;
constexpr double kNoRange = 1e-12;

struct PairSite {
  size_t first = 0, second = 0;  // node indices of A and B
  int64_t channels = 0;
  bool second_depthwise = false;
  float clip = 0;  // A's Clip upper bound; 0 when unbounded
};

const Tensor* conv_weights(const Graph& graph, const Node& node) {
  if (source_op_type(node) != "Conv") return nullptr;
  const Tensor* weights = constant_input(graph, node, 1);
  return weights != nullptr && weights->dtype() == DType::kFloat32 && weights->rank() == 4 ? weights : nullptr;
}

bool float_bias(const Graph& graph, const Node& node) {
  if (node.inputs.size() < 3 || node.inputs[2] == kNoValue) return true;
  const Tensor* bias = constant_input(graph, node, 2);
  return bias != nullptr && bias->dtype() == DType::kFloat32;
}

bool is_depthwise(const Node& node, const Tensor& weights) {
  return weights.dim(1) == 1 && node.attrs.get_int("group", 1) == weights.dim(0) && weights.dim(0) > 1;
}

// A's activation lets channels be rescaled: none, ReLU, or Clip(0, c).
bool homogeneous(const Node& node, float& clip) {
  clip = 0;
  if (!has_fused_activation(node)) return true;
  auto activation = activation_from_attributes(node.attrs);
  if (!activation.ok()) return false;
  if (activation->kind == ActivationKind::kNone || activation->kind == ActivationKind::kRelu) return true;
  if (activation->kind == ActivationKind::kClip && activation->alpha == 0.0f && activation->beta > 0.0f &&
      std::isfinite(activation->beta)) {
    clip = activation->beta;
    return true;
  }
  return false;
}

std::vector<PairSite> find_pairs(const Graph& graph) {
  std::map<ValueId, std::vector<size_t>> readers;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (ValueId id : graph.nodes[i].inputs) {
      if (id != kNoValue) readers[id].push_back(i);
    }
  }
  std::vector<char> is_output(graph.values.size(), 0);
  for (ValueId id : graph.outputs) is_output[static_cast<size_t>(id)] = 1;
  std::vector<PairSite> pairs;
  for (size_t a = 0; a < graph.nodes.size(); ++a) {
    const Node& first = graph.nodes[a];
    const Tensor* wa = conv_weights(graph, first);
    PairSite site;
    if (wa == nullptr || !float_bias(graph, first) || has_fused_sum(first) || !homogeneous(first, site.clip)) continue;
    const ValueId out = first.outputs[0];
    const auto it = readers.find(out);
    if (is_output[static_cast<size_t>(out)] || it == readers.end() || it->second.size() != 1) continue;
    const size_t b = it->second[0];
    const Node& second = graph.nodes[b];
    const Tensor* wb = conv_weights(graph, second);
    if (wb == nullptr || second.inputs[0] != out) continue;
    if (std::count(second.inputs.begin(), second.inputs.end(), out) != 1) continue;
    const int64_t channels = wa->dim(0);
    // A's output channel i must be B's input channel i of one group.
    const bool second_depthwise = is_depthwise(second, *wb) && wb->dim(0) == channels;
    const bool second_plain = second.attrs.get_int("group", 1) == 1 && wb->dim(1) == channels;
    const bool first_depthwise = is_depthwise(first, *wa);
    if (!(second_depthwise || second_plain) || !(first_depthwise || second_depthwise)) continue;
    site.first = a;
    site.second = b;
    site.channels = channels;
    site.second_depthwise = second_depthwise;
    pairs.push_back(site);
  }
  return pairs;
}

// Largest |w| of each output channel of A.
std::vector<double> output_ranges(const Tensor& weights) {
  const int64_t per = weights.size() / weights.dim(0);
  std::vector<double> ranges(static_cast<size_t>(weights.dim(0)), 0.0);
  for (int64_t o = 0; o < weights.dim(0); ++o) {
    for (int64_t k = 0; k < per; ++k) {
      ranges[static_cast<size_t>(o)] =
          std::max(ranges[static_cast<size_t>(o)], static_cast<double>(std::fabs(weights.data<float>()[o * per + k])));
    }
  }
  return ranges;
}

// Largest |w| of each input channel of B ([O, C, kh, kw], or depthwise [C, 1, kh, kw]).
std::vector<double> input_ranges(const Tensor& weights, bool depthwise) {
  if (depthwise) return output_ranges(weights);
  const int64_t channels = weights.dim(1), window = weights.dim(2) * weights.dim(3);
  std::vector<double> ranges(static_cast<size_t>(channels), 0.0);
  for (int64_t o = 0; o < weights.dim(0); ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* w = weights.data<float>() + (o * channels + c) * window;
      for (int64_t k = 0; k < window; ++k) {
        ranges[static_cast<size_t>(c)] = std::max(ranges[static_cast<size_t>(c)], static_cast<double>(std::fabs(w[k])));
      }
    }
  }
  return ranges;
}

double spread(const std::vector<double>& ranges) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (double r : ranges) {
    if (r <= kNoRange) continue;
    lo = std::min(lo, r);
    hi = std::max(hi, r);
  }
  return hi > 0 ? hi / lo : 1.0;
}

// Divides output channel i of A (weights, bias) by s_i and multiplies input
// channel i of B by s_i, in the tensors given.
void rescale(Tensor& wa, Tensor* bias, Tensor& wb, bool second_depthwise, const std::vector<float>& s) {
  const int64_t per = wa.size() / wa.dim(0);
  for (int64_t o = 0; o < wa.dim(0); ++o) {
    for (int64_t k = 0; k < per; ++k) wa.data<float>()[o * per + k] /= s[static_cast<size_t>(o)];
    if (bias != nullptr) bias->data<float>()[o] /= s[static_cast<size_t>(o)];
  }
  if (second_depthwise) {
    const int64_t per_b = wb.size() / wb.dim(0);
    for (int64_t c = 0; c < wb.dim(0); ++c) {
      for (int64_t k = 0; k < per_b; ++k) wb.data<float>()[c * per_b + k] *= s[static_cast<size_t>(c)];
    }
    return;
  }
  const int64_t channels = wb.dim(1), window = wb.dim(2) * wb.dim(3);
  for (int64_t o = 0; o < wb.dim(0); ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      float* w = wb.data<float>() + (o * channels + c) * window;
      for (int64_t k = 0; k < window; ++k) w[k] *= s[static_cast<size_t>(c)];
    }
  }
}

// Per-channel maximum of each Clip-bounded A's output over the samples.
StatusOr<std::map<std::string, std::vector<float>>> clipped_maxima(const Graph& optimized,
                                                                   const std::vector<PairSite>& pairs,
                                                                   const SampleBatches& samples, int threads) {
  std::map<std::string, std::vector<float>> maxima;
  for (const PairSite& site : pairs) {
    if (site.clip > 0) {
      maxima[optimized.value(optimized.nodes[site.first].outputs[0]).name].assign(
          static_cast<size_t>(site.channels), -std::numeric_limits<float>::infinity());
    }
  }
  if (maxima.empty()) return maxima;
  std::set<std::string> names;
  for (const auto& [name, maximum] : maxima) names.insert(name);
  KESTREL_RETURN_IF_ERROR(
      observe_samples(optimized, samples, threads, names, "cross-layer equalization",
                      [&](const Value& value, const std::vector<float>& plain, int64_t rows) -> Status {
                        std::vector<float>& maximum = maxima.at(value.name);
                        const int64_t channels = static_cast<int64_t>(maximum.size());
                        if (value.shape.size() < 2 || value.shape[1] != channels) {
                          return internal_error("cross-layer equalization: '", value.name, "' has shape ",
                                                shape_string(value.shape), ", expected ", channels, " channels");
                        }
                        const int64_t inner = static_cast<int64_t>(plain.size()) / (value.shape[0] * channels);
                        for (int64_t b = 0; b < rows; ++b) {
                          for (int64_t c = 0; c < channels; ++c) {
                            const float* v = plain.data() + (b * channels + c) * inner;
                            float& m = maximum[static_cast<size_t>(c)];
                            for (int64_t k = 0; k < inner; ++k) m = std::max(m, v[k]);
                          }
                        }
                        return {};
                      }));
  return maxima;
}

StatusOr<size_t> node_named(const Graph& graph, const std::string& name) {
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (graph.nodes[i].name == name) return i;
  }
  return internal_error("cross-layer equalization: no node '", name, "' in the graph");
}

}  // namespace

StatusOr<EqualizationPlan> plan_equalization(const Graph& optimized, const SampleBatches& samples, int threads) {
  EqualizationPlan plan;
  plan.images = samples.images();
  const std::vector<PairSite> sites = find_pairs(optimized);
  if (sites.empty()) return plan;
  KESTREL_ASSIGN_OR_RETURN(const auto maxima, clipped_maxima(optimized, sites, samples, threads));
  // Working copies of every weight and bias the pairs touch, by node index.
  std::map<size_t, Tensor> weights, biases;
  for (const PairSite& site : sites) {
    for (size_t n : {site.first, site.second}) {
      if (weights.count(n) == 0) weights[n] = constant_input(optimized, optimized.nodes[n], 1)->clone();
    }
    if (const Node& a = optimized.nodes[site.first]; a.inputs.size() > 2 && a.inputs[2] != kNoValue) {
      biases[site.first] = constant_input(optimized, a, 2)->clone();
    }
  }
  for (const PairSite& site : sites) {
    EqualizedPair pair{.first = optimized.nodes[site.first].name,
                       .second = optimized.nodes[site.second].name,
                       .channels = site.channels,
                       .spread_before = spread(output_ranges(weights[site.first]))};
    pair.scales.assign(static_cast<size_t>(site.channels), 1.0f);
    plan.pairs.push_back(std::move(pair));
  }
  for (int sweep = 0; sweep < kEqualizationSweeps; ++sweep) {
    for (size_t p = 0; p < sites.size(); ++p) {
      const PairSite& site = sites[p];
      EqualizedPair& pair = plan.pairs[p];
      const std::vector<double> r1 = output_ranges(weights[site.first]);
      const std::vector<double> r2 = input_ranges(weights[site.second], site.second_depthwise);
      const std::vector<float>* maximum = nullptr;
      if (site.clip > 0) maximum = &maxima.at(optimized.value(optimized.nodes[site.first].outputs[0]).name);
      std::vector<float> step(static_cast<size_t>(site.channels), 1.0f);
      for (size_t c = 0; c < step.size(); ++c) {
        if (r1[c] <= kNoRange || r2[c] <= kNoRange) continue;
        const double current = pair.scales[c];
        double total = std::clamp(current * std::sqrt(r1[c] / r2[c]), 1.0 / kMaxScale, kMaxScale);
        if (maximum != nullptr) {
          const double m = (*maximum)[c];
          if (m >= site.clip * (1.0 - 1e-6)) continue;  // reached the bound: s stays 1
          total = std::max(total, kClipMargin * std::max(m, 0.0) / site.clip);
        }
        step[c] = static_cast<float>(total / current);
        pair.scales[c] = static_cast<float>(total);
      }
      auto bias = biases.find(site.first);
      rescale(weights[site.first], bias == biases.end() ? nullptr : &bias->second, weights[site.second],
              site.second_depthwise, step);
    }
  }
  for (size_t p = 0; p < sites.size(); ++p) {
    EqualizedPair& pair = plan.pairs[p];
    pair.spread_after = spread(output_ranges(weights[sites[p].first]));
    if (sites[p].clip > 0) {
      const auto& maximum = maxima.at(optimized.value(optimized.nodes[sites[p].first].outputs[0]).name);
      for (float m : maximum) pair.held += m >= sites[p].clip * (1.0f - 1e-6f) ? 1 : 0;
    }
  }
  return plan;
}

Status apply_equalization(Graph& graph, const EqualizationPlan& plan) {
  for (const EqualizedPair& pair : plan.pairs) {
    KESTREL_ASSIGN_OR_RETURN(const size_t a, node_named(graph, pair.first));
    KESTREL_ASSIGN_OR_RETURN(const size_t b, node_named(graph, pair.second));
    const Tensor* wa = conv_weights(graph, graph.nodes[a]);
    const Tensor* wb = conv_weights(graph, graph.nodes[b]);
    if (wa == nullptr || wb == nullptr || wa->dim(0) != pair.channels ||
        static_cast<int64_t>(pair.scales.size()) != pair.channels || !float_bias(graph, graph.nodes[a])) {
      return internal_error("cross-layer equalization: nodes '", pair.first, "' and '", pair.second,
                            "' are not the pair that was planned");
    }
    const bool second_depthwise = is_depthwise(graph.nodes[b], *wb) && wb->dim(0) == pair.channels;
    if (!second_depthwise && wb->dim(1) != pair.channels) {
      return internal_error("cross-layer equalization: '", pair.second, "' does not read ", pair.channels, " channels");
    }
    Tensor new_a = wa->clone(), new_b = wb->clone();
    std::optional<Tensor> bias;
    if (const Node& first = graph.nodes[a]; first.inputs.size() > 2 && first.inputs[2] != kNoValue) {
      bias = constant_input(graph, first, 2)->clone();
    }
    rescale(new_a, bias ? &*bias : nullptr, new_b, second_depthwise, pair.scales);
    const ValueId ia = add_constant(graph, pair.first + "/equalized_weights", std::move(new_a));
    const ValueId ib = add_constant(graph, pair.second + "/equalized_weights", std::move(new_b));
    graph.nodes[a].inputs[1] = ia;
    graph.nodes[b].inputs[1] = ib;
    if (bias) graph.nodes[a].inputs[2] = add_constant(graph, pair.first + "/equalized_bias", std::move(*bias));
  }
  return {};
}

}  // namespace kestrel
