#include "quant/bias_correction.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>

#include "passes/graph_edit.h"
#include "quant/compare.h"
#include "quant/quantize.h"
#include "quant/quantize_graph.h"

namespace kestrel {
namespace {

// The grid a conv's input is put on.
struct InputGrid {
  float scale = 1.0f;
  int32_t zero_point = 0;
  DType dtype = DType::kInt8;
};

struct Target {
  size_t node = 0;  // index in the optimized graph
  std::string output, input;
  int64_t channels = 0, inputs = 0;  // weight dims 0 and 1 (depthwise: inputs == 1, channel c reads input c)
  bool depthwise = false;
  InputGrid grid;
  // [channels * inputs]: the sum of W[c, i, :, :], float and dequantized int8.
  std::vector<double> weight_sums, quantized_sums;
};

// Per-channel sums of a conv input (x and Q(x)) or output (x and x^2).
struct ChannelSums {
  std::vector<double> sum, quantized_sum;
  double squares = 0;
  int64_t per_channel = 0;

  double mean(size_t c) const { return per_channel > 0 ? sum[c] / static_cast<double>(per_channel) : 0; }
  double quantized_mean(size_t c) const {
    return per_channel > 0 ? quantized_sum[c] / static_cast<double>(per_channel) : 0;
  }
};

StatusOr<std::vector<Target>> find_targets(const Graph& optimized, const Graph& quantized,
                                           const QuantizationSummary& summary,
                                           std::vector<std::pair<std::string, std::string>>& skipped) {
  std::map<std::string, size_t> by_name, quantized_by_name;
  for (size_t i = 0; i < optimized.nodes.size(); ++i) by_name[optimized.nodes[i].name] = i;
  for (size_t i = 0; i < quantized.nodes.size(); ++i) quantized_by_name[quantized.nodes[i].name] = i;
  std::vector<Target> targets;
  for (const std::string& name : summary.quantized) {
    auto it = by_name.find(name);
    auto qt = quantized_by_name.find(name);
    if (it == by_name.end() || qt == quantized_by_name.end()) continue;
    const Node& node = optimized.nodes[it->second];
    const Node& qnode = quantized.nodes[qt->second];
    if (source_op_type(node) != "Conv") continue;
    const Tensor* weight = constant_input(optimized, node, 1);
    const Tensor* bias =
        node.inputs.size() > 2 && node.inputs[2] != kNoValue ? constant_input(optimized, node, 2) : nullptr;
    const bool bias_ok =
        bias == nullptr ? node.inputs.size() < 3 || node.inputs[2] == kNoValue : bias->dtype() == DType::kFloat32;
    if (weight == nullptr || weight->dtype() != DType::kFloat32 || weight->rank() < 3 || !bias_ok) {
      skipped.emplace_back(name, "its weights or bias are not float constants");
      continue;
    }
    const Value& qweight_value = quantized.value(qnode.inputs[1]);
    const Value& qinput = quantized.value(qnode.inputs[0]);
    if (!qweight_value.constant || qweight_value.constant->dtype() != DType::kInt8 || !qweight_value.quant ||
        qweight_value.constant->size() != weight->size() || !qinput.quant || qinput.quant->scales.empty()) {
      return internal_error("bias correction: the quantized form of ", node.label(), " is not an int8 conv");
    }
    const int64_t group = node.attrs.get_int("group", 1);
    Target target{.node = it->second,
                  .output = optimized.value(node.outputs[0]).name,
                  .input = optimized.value(node.inputs[0]).name,
                  .channels = weight->dim(0),
                  .inputs = weight->dim(1),
                  .depthwise = group > 1 && weight->dim(1) == 1 && group == weight->dim(0)};
    if (group != 1 && !target.depthwise) {
      skipped.emplace_back(name, "a grouped conv that is not depthwise");
      continue;
    }
    target.grid = InputGrid{
        .scale = qinput.quant->scales[0],
        .zero_point = qinput.quant->zero_points.empty() ? 0 : static_cast<int32_t>(qinput.quant->zero_points[0]),
        .dtype = qinput.dtype};
    const int64_t rows = target.channels * target.inputs;
    const int64_t window = weight->size() / rows;
    const std::vector<float>& scales = qweight_value.quant->scales;
    const int8_t* q = qweight_value.constant->data<int8_t>();
    target.weight_sums.assign(static_cast<size_t>(rows), 0.0);
    target.quantized_sums.assign(static_cast<size_t>(rows), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t c = r / target.inputs;
      const double scale = scales[scales.size() == 1 ? 0 : static_cast<size_t>(c)];
      double total = 0, quantized_total = 0;
      for (int64_t w = 0; w < window; ++w) {
        total += weight->data<float>()[r * window + w];
        quantized_total += scale * q[r * window + w];
      }
      target.weight_sums[static_cast<size_t>(r)] = total;
      target.quantized_sums[static_cast<size_t>(r)] = quantized_total;
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

// What one FP32 run watches: every target's input, on its grid, and output.
struct Watch {
  int64_t channels = 0;
  bool input = false;
  InputGrid grid;
};

// Sums every watched tensor per channel over the samples, running the FP32 graph.
StatusOr<std::map<std::string, ChannelSums>> channel_sums(const Graph& optimized,
                                                          const std::map<std::string, Watch>& watched,
                                                          const SampleBatches& samples, int threads) {
  std::map<std::string, ChannelSums> sums;
  std::set<std::string> names;
  for (const auto& [name, watch] : watched) names.insert(name);
  KESTREL_RETURN_IF_ERROR(observe_samples(
      optimized, samples, threads, names, "bias correction",
      [&](const Value& value, const std::vector<float>& plain, int64_t rows) -> Status {
        const Watch& watch = watched.at(value.name);
        if (value.shape.size() < 2 || value.shape[1] != watch.channels || value.dtype != DType::kFloat32) {
          return internal_error("bias correction: '", value.name, "' is ", dtype_name(value.dtype), " ",
                                shape_string(value.shape), ", expected float32 with ", watch.channels, " channels");
        }
        ChannelSums& s = sums[value.name];
        s.sum.resize(static_cast<size_t>(watch.channels), 0.0);
        s.quantized_sum.resize(static_cast<size_t>(watch.channels), 0.0);
        const int64_t channels = watch.channels;
        const int64_t inner = static_cast<int64_t>(plain.size()) / (value.shape[0] * channels);
        for (int64_t b = 0; b < rows; ++b) {
          for (int64_t c = 0; c < channels; ++c) {
            const float* v = plain.data() + (b * channels + c) * inner;
            double sum = 0, quantized = 0, squares = 0;
            for (int64_t k = 0; k < inner; ++k) {
              sum += v[k];
              squares += static_cast<double>(v[k]) * v[k];
              if (watch.input) {
                const int32_t code = quantize_value(v[k], watch.grid.scale, watch.grid.zero_point, watch.grid.dtype);
                quantized += dequantize_value(code, watch.grid.scale, watch.grid.zero_point);
              }
            }
            s.sum[static_cast<size_t>(c)] += sum;
            s.quantized_sum[static_cast<size_t>(c)] += quantized;
            s.squares += squares;
          }
        }
        s.per_channel += rows * inner;
        return {};
      }));
  for (const auto& [name, watch] : watched) {
    if (sums.count(name) == 0) return internal_error("bias correction: the FP32 run did not produce '", name, "'");
  }
  return sums;
}

// The first output of `graph` (quantized when `stats` is given) on every sample.
StatusOr<std::vector<float>> logits(Graph graph, const std::map<std::string, TensorStats>* stats,
                                    const QuantConfig& config, const SampleBatches& samples, int threads) {
  if (stats != nullptr) KESTREL_RETURN_IF_ERROR(quantize_graph(graph, *stats, config).status());
  const std::string output = graph.value(graph.outputs[0]).name;
  std::vector<float> out;
  KESTREL_RETURN_IF_ERROR(observe_samples(graph, samples, threads, {output}, "bias correction",
                                          [&](const Value& value, const std::vector<float>& plain, int64_t rows) {
                                            const int64_t row = static_cast<int64_t>(plain.size()) /
                                                                std::max<int64_t>(value.shape[0], 1);
                                            out.insert(out.end(), plain.begin(), plain.begin() + rows * row);
                                            return Status();
                                          }));
  return out;
}

}  // namespace

StatusOr<BiasCorrectionReport> correct_biases(Graph& optimized, const std::map<std::string, TensorStats>& stats,
                                              const QuantConfig& config, const SampleBatches& samples, int threads) {
  BiasCorrectionReport report;
  report.images = samples.images();
  Graph probe = optimized;
  KESTREL_ASSIGN_OR_RETURN(const QuantizationSummary summary, quantize_graph(probe, stats, config));
  KESTREL_ASSIGN_OR_RETURN(const std::vector<Target> targets, find_targets(optimized, probe, summary, report.skipped));
  if (targets.empty()) return report;
  std::map<std::string, Watch> watched;
  for (const Target& target : targets) {
    const int64_t input_channels = target.depthwise ? target.channels : target.inputs;
    Watch& in = watched[target.input];
    // One tensor is quantized once, so every reader has the same grid.
    if (in.input && in.grid.scale != target.grid.scale) {
      return internal_error("bias correction: '", target.input, "' is read on two grids");
    }
    in.channels = input_channels;
    in.input = true;
    in.grid = target.grid;
    watched[target.output].channels = target.channels;  // an output may be the next conv's input too
  }
  KESTREL_ASSIGN_OR_RETURN(const std::vector<float> reference, logits(optimized, nullptr, config, samples, threads));
  KESTREL_ASSIGN_OR_RETURN(const std::vector<float> before, logits(optimized, &stats, config, samples, threads));
  KESTREL_ASSIGN_OR_RETURN(const auto sums, channel_sums(optimized, watched, samples, threads));
  for (const Target& target : targets) {
    const ChannelSums& in = sums.at(target.input);
    const ChannelSums& out = sums.at(target.output);
    Node& node = optimized.nodes[target.node];
    const Tensor* old_bias =
        node.inputs.size() > 2 && node.inputs[2] != kNoValue ? constant_input(optimized, node, 2) : nullptr;
    Tensor bias(DType::kFloat32, {target.channels});
    double total = 0;
    for (int64_t c = 0; c < target.channels; ++c) {
      double shift = 0;
      for (int64_t i = 0; i < target.inputs; ++i) {
        const size_t r = static_cast<size_t>(c * target.inputs + i);
        const size_t channel = static_cast<size_t>(target.depthwise ? c : i);
        shift += target.quantized_sums[r] * in.quantized_mean(channel) - target.weight_sums[r] * in.mean(channel);
      }
      total += std::fabs(shift);
      const float current = old_bias != nullptr ? old_bias->data<float>()[c] : 0.0f;
      bias.data<float>()[c] = static_cast<float>(current - shift);
    }
    const double count = static_cast<double>(out.per_channel) * static_cast<double>(target.channels);
    const double rms = count > 0 ? std::sqrt(out.squares / count) : 0;
    report.layers.push_back(CorrectedLayer{.node = node.name,
                                           .channels = target.channels,
                                           .shift = rms > 0 ? total / static_cast<double>(target.channels) / rms : 0});
    report.biases[node.name] = bias.clone();
    // A constant of its own: a bias shared with another conv keeps its value there.
    const ValueId id = add_constant(optimized, node.name + "/corrected_bias", std::move(bias));
    Node& conv = optimized.nodes[target.node];
    conv.inputs.resize(std::max<size_t>(conv.inputs.size(), 3), kNoValue);
    conv.inputs[2] = id;
  }
  KESTREL_ASSIGN_OR_RETURN(const std::vector<float> after, logits(optimized, &stats, config, samples, threads));
  report.logit_sqnr_before_db = signal_to_noise_db(reference, before);
  report.logit_sqnr_after_db = signal_to_noise_db(reference, after);
  return report;
}

}  // namespace kestrel
