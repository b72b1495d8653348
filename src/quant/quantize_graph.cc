#include "quant/quantize_graph.h"

#include <cmath>
#include <limits>
#include <set>

#include "kernels/activation.h"
#include "kernels/channel_ops.h"
#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"
#include "passes/graph_edit.h"
#include "quant/quantize.h"

namespace kestrel {
namespace {

constexpr size_t kWeightInput = 1, kBiasInput = 2, kSumInput = 3;
constexpr int64_t kOutputChannelAxis = 0;

bool is_conv(const Node& node) {
  return (node.domain.empty() && node.op_type == "Conv") ||
         (node.domain == kKestrelDomain && node.op_type == "FusedConv");
}

bool is_float_activation(const Graph& graph, ValueId id) {
  return id != kNoValue && !graph.value(id).constant && graph.value(id).dtype == DType::kFloat32;
}

// GlobalAveragePool and ChannelScale (squeeze-excitation) on a float 4-D
// activation: they have int8 kernels that requantize to their output's scale.
bool is_int8_capable_channel_op(const Graph& graph, const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.empty() || !is_float_activation(graph, node.inputs[0]) ||
      graph.value(node.inputs[0]).shape.size() != 4) {
    return false;
  }
  if (node.domain.empty()) return node.op_type == "GlobalAveragePool";
  return node.domain == kKestrelDomain && node.op_type == kChannelScaleOp;
}

// A Concat along the channels of 4-D float activations.
bool is_channel_concat(const Graph& graph, const Node& node) {
  if (!node.domain.empty() || node.op_type != "Concat" || node.outputs.size() != 1 || node.inputs.empty()) return false;
  const int64_t axis = node.attrs.get_int("axis", 1);
  if (axis != 1 && axis != -3) return false;
  for (ValueId in : node.inputs) {
    if (!is_float_activation(graph, in) || graph.value(in).shape.size() != 4) return false;
  }
  return true;
}

// Ops that only move bytes (MaxPool commutes with the monotone
// quantization): on an int8 input they run as they are.
bool moves_bytes_only(const Node& node) {
  if (node.outputs.size() != 1 || node.inputs.empty()) return false;
  if (node.domain.empty()) return node.op_type == "MaxPool" || node.op_type == "Slice";
  return node.domain == kKestrelDomain && node.op_type == kChannelShuffleOp;
}

// Such an op on a float 4-D activation, which the quantizer may run on int8.
bool is_byte_mover(const Graph& graph, const Node& node) {
  return moves_bytes_only(node) && is_float_activation(graph, node.inputs[0]) &&
         graph.value(node.inputs[0]).shape.size() == 4;
}

bool is_int8_activation(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  return !value.constant && value.quant && (value.dtype == DType::kInt8 || value.dtype == DType::kUInt8);
}

// Why a conv cannot be quantized ("" when it can).
std::string unquantizable_reason(const Graph& graph, const Node& node) {
  const Value& x = graph.value(node.inputs[0]);
  if (!is_float_activation(graph, node.inputs[0]) || x.shape.size() != 4)
    return "input is not a float32 4-D activation";
  const Value& w = graph.value(node.inputs[kWeightInput]);
  if (!w.constant || w.dtype != DType::kFloat32 || w.shape.size() != 4) return "weights are not constant float32 4-D";
  if (node.inputs.size() > kBiasInput && node.inputs[kBiasInput] != kNoValue &&
      !graph.value(node.inputs[kBiasInput]).constant) {
    return "bias is not constant";
  }
  if (node.inputs.size() > kSumInput && node.inputs[kSumInput] != kNoValue &&
      !is_float_activation(graph, node.inputs[kSumInput])) {
    return "residual input is not a float32 activation";
  }
  return "";
}

// Why a conv stays FP32 under `config` ("" when it is quantized).
std::string kept_float_reason(const Graph& graph, const Node& node, const QuantConfig& config) {
  if (!settings_for(config, node.name, source_op_type(node)).quantize) return "kept in FP32 by the quantization config";
  return unquantizable_reason(graph, node);
}

// The activations a quantized conv reads and writes: input, output, and the
// fused residual when there is one.
std::vector<ValueId> conv_activations(const Node& node) {
  std::vector<ValueId> values = {node.inputs[0], node.outputs[0]};
  if (node.inputs.size() > kSumInput && node.inputs[kSumInput] != kNoValue) values.push_back(node.inputs[kSumInput]);
  return values;
}

// Activations that commute with the output's rescaling (bounds rescaled)
// run on the int8 grid; the others run on real values before a post-scale.
bool int8_friendly(const Activation& activation) {
  return activation.kind == ActivationKind::kNone || activation.kind == ActivationKind::kRelu ||
         activation.kind == ActivationKind::kLeakyRelu || activation.kind == ActivationKind::kClip;
}

class GraphQuantizer {
 public:
  GraphQuantizer(Graph& graph, const std::map<std::string, TensorStats>& stats, const QuantConfig& config,
                 const QuantizeOptions& options)
      : graph_(graph), stats_(stats), config_(config), options_(options) {}

  StatusOr<QuantizationSummary> run() {
    choose_nodes();
    std::vector<Node> nodes = std::move(graph_.nodes);
    graph_.nodes.clear();
    for (Node& node : nodes) {
      if (settings_.count(&node - nodes.data())) {
        KESTREL_RETURN_IF_ERROR(emit_quantized_conv(node, settings_.at(&node - nodes.data())));
      } else if (int8_channel_ops_.count(&node - nodes.data())) {
        KESTREL_RETURN_IF_ERROR(emit_int8_channel_op(std::move(node)));
      } else if (int8_concats_.count(&node - nodes.data())) {
        KESTREL_RETURN_IF_ERROR(emit_int8_concat(std::move(node)));
      } else if (passes_int8_through(node)) {
        Value& out = graph_.value(node.outputs[0]);
        out.dtype = graph_.value(node.inputs[0]).dtype;
        out.quant = graph_.value(node.inputs[0]).quant;
        graph_.nodes.push_back(std::move(node));
      } else {
        for (ValueId& in : node.inputs) {
          if (in != kNoValue && is_int8_activation(graph_, in)) in = dequantized(in);
        }
        graph_.nodes.push_back(std::move(node));
      }
    }
    // A graph output produced in int8 (MaxPool is the only way) leaves as float.
    for (ValueId& out : graph_.outputs) {
      if (is_int8_activation(graph_, out)) return internal_error("graph output '", graph_.value(out).name, "' is int8");
    }
    return std::move(summary_);
  }

 private:
  void choose_nodes() {
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      const Node& node = graph_.nodes[i];
      if (!is_conv(node)) continue;
      std::string reason = kept_float_reason(graph_, node, config_);
      if (reason.empty() && options_.keep_float_without_stats) reason = missing_stats(node);
      if (!reason.empty()) {
        summary_.kept_float.emplace_back(node.name, reason);
        continue;
      }
      const LayerQuantSettings settings = settings_for(config_, node.name, source_op_type(node));
      settings_[static_cast<int64_t>(i)] = settings;
      // Tensors read by several layers take the first reader's settings; a
      // layer's own output follows its settings.
      for (ValueId value : conv_activations(node)) method_of_.emplace(value, settings);
      method_of_[node.outputs[0]] = settings;
    }
    // Which values some int8 reader wants as int8.
    for (const auto& [index, settings] : settings_) {
      const Node& node = graph_.nodes[static_cast<size_t>(index)];
      int8_readers_.insert(node.inputs[0]);
      if (node.inputs.size() > kSumInput && node.inputs[kSumInput] != kNoValue) {
        int8_readers_.insert(node.inputs[kSumInput]);
      }
    }
    for (ValueId out : graph_.outputs) graph_outputs_.insert(out);
    choose_int8_followers();
  }

  // Walking backwards, every reader of a node's output has been seen, so
  // whether an int8 reader wants it is settled:
  // - a byte mover (MaxPool, Slice, ChannelShuffle) whose output is wanted
  //   int8 wants its input int8 too;
  // - so does a squeeze-excitation op (GlobalAveragePool, ChannelScale) with
  //   ranges for both tensors;
  // - a channel Concat whose output is wanted int8 (and has a range) runs on
  //   int8 (QConcat) and wants every input int8. An input written by a
  //   quantized conv for this Concat alone is written on the Concat output's
  //   grid (its range holds all of theirs), so its bytes are copied; any
  //   other input is requantized in the copy.
  void choose_int8_followers() {
    const std::vector<int32_t> readers = graph_.use_counts();
    std::set<ValueId> conv_outputs;
    for (const auto& [index, settings] : settings_)
      conv_outputs.insert(graph_.nodes[static_cast<size_t>(index)].outputs[0]);
    for (size_t i = graph_.nodes.size(); i-- > 0;) {
      const Node& node = graph_.nodes[i];
      if (node.outputs.empty()) continue;
      const ValueId y = node.outputs[0];
      if (!int8_readers_.count(y) || graph_outputs_.count(y)) continue;
      if (is_byte_mover(graph_, node)) {
        int8_readers_.insert(node.inputs[0]);
      } else if (is_int8_capable_channel_op(graph_, node)) {
        if (!has_stats(node.inputs[0]) || !has_stats(y)) continue;
        int8_channel_ops_.insert(static_cast<int64_t>(i));
        int8_readers_.insert(node.inputs[0]);
      } else if (is_channel_concat(graph_, node) && has_stats(y)) {
        int8_concats_.insert(static_cast<int64_t>(i));
        for (ValueId x : node.inputs) {
          int8_readers_.insert(x);
          if (conv_outputs.count(x) && readers[static_cast<size_t>(x)] == 1 && !grid_of_.count(x)) {
            grid_of_[x] = y;
            method_of_[x] = method_of_.count(y) ? method_of_.at(y) : config_.defaults;
          }
        }
      }
    }
  }

  bool has_stats(ValueId id) const { return stats_.count(graph_.value(id).name) != 0; }

  // "no range for tensor 'x'" when a tensor the conv needs has no statistics.
  std::string missing_stats(const Node& node) const {
    for (ValueId id : conv_activations(node)) {
      const std::string& name = graph_.value(id).name;
      if (!stats_.count(name)) return "the model gives no range for tensor '" + name + "'";
    }
    return "";
  }

  bool passes_int8_through(const Node& node) const {
    return moves_bytes_only(node) && is_int8_activation(graph_, node.inputs[0]) &&
           !graph_outputs_.count(node.outputs[0]);
  }

  StatusOr<TensorQuant> activation_params(ValueId id) const {
    if (auto grid = grid_of_.find(id); grid != grid_of_.end()) id = grid->second;
    const Value& value = graph_.value(id);
    auto stats = stats_.find(value.name);
    if (stats == stats_.end()) return internal_error("no calibration statistics for tensor '", value.name, "'");
    auto settings = method_of_.find(id);
    const LayerQuantSettings chosen = settings == method_of_.end() ? config_.defaults : settings->second;
    CalibrationOptions options{.percentile = chosen.percentile, .allow_unsigned = true, .tensor_name = value.name};
    return activation_quant_params(stats->second, chosen.method, options);
  }

  // Names are made unique: exporters share one initializer among layers
  // whose weights are equal, and each layer gets its own quantized copy.
  ValueId add_constant(const std::string& name, Tensor tensor) {
    return kestrel::add_constant(graph_, name, std::move(tensor));
  }

  static Tensor scalar(float x) {
    Tensor t(DType::kFloat32, {});
    *t.data<float>() = x;
    return t;
  }

  static Tensor zero_point_of(DType dtype) {
    Tensor t(dtype, {});
    *static_cast<uint8_t*>(t.raw_data()) = 0;
    return t;
  }

  // The int8 form of a float activation: a QuantizeLinear, once per value.
  StatusOr<ValueId> quantized(ValueId id) {
    if (is_int8_activation(graph_, id)) return id;
    if (auto it = quantized_.find(id); it != quantized_.end()) return it->second;
    KESTREL_ASSIGN_OR_RETURN(const TensorQuant params, activation_params(id));
    const Value& source = graph_.value(id);
    const std::string name = unique_value_name(graph_, source.name + "/quantized");
    Value q{.name = name, .dtype = params.dtype, .shape = source.shape, .shape_known = true};
    q.quant = QuantParams{{params.scale}, {0}, 0};
    const ValueId scale = add_constant(name + "/scale", scalar(params.scale));
    const ValueId zero_point = add_constant(name + "/zero_point", zero_point_of(params.dtype));
    const ValueId out = graph_.add_value(std::move(q));
    graph_.nodes.push_back(
        Node{.name = name, .op_type = "QuantizeLinear", .inputs = {id, scale, zero_point}, .outputs = {out}});
    ++summary_.quantize_nodes;
    quantized_[id] = out;
    return out;
  }

  // The float form of an int8 activation: a DequantizeLinear, once per value.
  ValueId dequantized(ValueId id) {
    if (auto it = dequantized_.find(id); it != dequantized_.end()) return it->second;
    const Value source = graph_.value(id);
    const std::string name = unique_value_name(graph_, source.name + "/dequantized");
    const ValueId scale = add_constant(name + "/scale", scalar(source.quant->scales[0]));
    const ValueId zero_point = add_constant(name + "/zero_point", zero_point_of(source.dtype));
    const ValueId out =
        graph_.add_value(Value{.name = name, .dtype = DType::kFloat32, .shape = source.shape, .shape_known = true});
    graph_.nodes.push_back(
        Node{.name = name, .op_type = "DequantizeLinear", .inputs = {id, scale, zero_point}, .outputs = {out}});
    ++summary_.dequantize_nodes;
    dequantized_[id] = out;
    return out;
  }

  StatusOr<QuantizedWeights> quantize_weights(const Tensor& weights, WeightGranularity granularity) const {
    KESTREL_ASSIGN_OR_RETURN(QuantizedWeights q, quantize_weights_per_channel(weights, kOutputChannelAxis));
    if (granularity == WeightGranularity::kPerChannel) return q;
    KESTREL_ASSIGN_OR_RETURN(const TensorQuant per_tensor, weight_quant_params_per_tensor(weights));
    int8_t* dst = q.values.data<int8_t>();
    for (int64_t i = 0; i < weights.size(); ++i) {
      dst[i] = static_cast<int8_t>(quantize_value(weights.data<float>()[i], per_tensor.scale, 0, DType::kInt8));
    }
    q.scales.assign(1, per_tensor.scale);
    return q;
  }

  // GlobalAveragePool -> QGlobalAveragePool, ChannelScale on int8: the
  // input's int8 form in, requantized to the output's own scale.
  Status emit_int8_channel_op(Node node) {
    KESTREL_ASSIGN_OR_RETURN(const ValueId x, quantized(node.inputs[0]));
    const float x_scale = graph_.value(x).quant->scales[0];
    const ValueId y = node.outputs[0];
    KESTREL_ASSIGN_OR_RETURN(const TensorQuant params, activation_params(y));
    graph_.value(y).dtype = params.dtype;
    graph_.value(y).quant = QuantParams{{params.scale}, {0}, 0};
    node.inputs[0] = x;
    for (size_t i = 1; i < node.inputs.size(); ++i) {
      if (node.inputs[i] != kNoValue && is_int8_activation(graph_, node.inputs[i]))
        node.inputs[i] = dequantized(node.inputs[i]);
    }
    if (node.domain.empty()) {
      node.op_type = kQuantizedGlobalAveragePoolOp;
      node.domain = std::string(kKestrelDomain);
    }
    node.attrs.set(kRequantScaleAttr, x_scale / params.scale);
    node.attrs.set(kOutputTypeAttr, dtype_name(params.dtype));
    graph_.nodes.push_back(std::move(node));
    return {};
  }

  // Concat -> QConcat: int8 inputs as they are (scale 1 for those written on
  // the output's grid), float ones through a QuantizeLinear when they have a
  // range. An input with none (a float op's output) keeps the Concat float.
  Status emit_int8_concat(Node node) {
    KESTREL_ASSIGN_OR_RETURN(const TensorQuant params, activation_params(node.outputs[0]));
    bool all_int8 = true;
    for (ValueId in : node.inputs) all_int8 = all_int8 && (is_int8_activation(graph_, in) || has_stats(in));
    if (!all_int8) {
      for (ValueId& in : node.inputs) {
        if (is_int8_activation(graph_, in)) in = dequantized(in);
      }
      graph_.nodes.push_back(std::move(node));
      return {};
    }
    std::vector<float> input_scales;
    for (ValueId& in : node.inputs) {
      KESTREL_ASSIGN_OR_RETURN(in, quantized(in));
      input_scales.push_back(graph_.value(in).quant->scales[0] / params.scale);
    }
    Value& out = graph_.value(node.outputs[0]);
    out.dtype = params.dtype;
    out.quant = QuantParams{{params.scale}, {0}, 0};
    node.op_type = kQuantizedConcatOp;
    node.domain = std::string(kKestrelDomain);
    node.attrs.set(kInputScalesAttr, input_scales);
    node.attrs.set(kOutputTypeAttr, dtype_name(params.dtype));
    graph_.nodes.push_back(std::move(node));
    return {};
  }

  Status emit_quantized_conv(Node node, const LayerQuantSettings& settings) {
    const std::string what = node.label();
    KESTREL_ASSIGN_OR_RETURN(const ValueId x, quantized(node.inputs[0]));
    const float x_scale = graph_.value(x).quant->scales[0];
    const Value weight_value = graph_.value(node.inputs[kWeightInput]);
    auto weights = quantize_weights(*weight_value.constant, settings.weights);
    if (!weights.ok()) return weights.status().with_context(what);
    const int64_t out_channels = weight_value.shape[0];
    auto weight_scale = [&](int64_t o) {
      return weights->scales[weights->scales.size() == 1 ? 0 : static_cast<size_t>(o)];
    };

    node.inputs[kWeightInput] = add_constant(weight_value.name + "/int8", weights->values);
    graph_.value(node.inputs[kWeightInput]).quant = QuantParams{weights->scales, {}, kOutputChannelAxis};
    if (node.inputs.size() > kBiasInput && node.inputs[kBiasInput] != kNoValue) {
      const Value& bias_value = graph_.value(node.inputs[kBiasInput]);
      std::vector<float> bias_scales(static_cast<size_t>(out_channels));
      for (int64_t o = 0; o < out_channels; ++o) bias_scales[static_cast<size_t>(o)] = x_scale * weight_scale(o);
      auto bias = quantize_bias(*bias_value.constant, x_scale, weights->scales);
      if (!bias.ok()) return bias.status().with_context(what);
      const std::string name = bias_value.name + "/int32";
      node.inputs[kBiasInput] = add_constant(name, std::move(*bias));
      graph_.value(node.inputs[kBiasInput]).quant = QuantParams{bias_scales, {}, 0};
    }

    KESTREL_ASSIGN_OR_RETURN(Activation activation, activation_from_attributes(node.attrs));
    const ValueId y = node.outputs[0];
    const bool int8_output = int8_readers_.count(y) && !graph_outputs_.count(y);
    // An activation that does not commute with scaling runs on real values:
    // output and sum scales give real units, post_scale maps to the output's.
    const bool real_units = int8_output && !int8_friendly(activation);
    float y_scale = 1.0f;
    if (int8_output) {
      KESTREL_ASSIGN_OR_RETURN(const TensorQuant params, activation_params(y));
      y_scale = params.scale;
      graph_.value(y).dtype = params.dtype;
      graph_.value(y).quant = QuantParams{{params.scale}, {0}, 0};
      if (activation.kind == ActivationKind::kClip && !real_units) {  // bounds in output units
        activation.alpha /= y_scale;
        activation.beta /= y_scale;
      }
    }
    const float requant = real_units ? 1.0f : y_scale;
    std::vector<float> output_scales(weights->scales.size());
    for (size_t o = 0; o < output_scales.size(); ++o) output_scales[o] = x_scale * weights->scales[o] / requant;

    float sum_scale = 1.0f;
    if (node.inputs.size() > kSumInput && node.inputs[kSumInput] != kNoValue) {
      ValueId& sum = node.inputs[kSumInput];
      if (int8_output) {
        KESTREL_ASSIGN_OR_RETURN(sum, quantized(sum));
        sum_scale = graph_.value(sum).quant->scales[0] / requant;
      } else if (is_int8_activation(graph_, sum)) {
        sum = dequantized(sum);
      }
    }
    node.inputs[0] = x;
    node.op_type = kQuantizedConvOp;
    node.domain = std::string(kKestrelDomain);
    node.attrs.set(kOutputScalesAttr, output_scales);
    node.attrs.set(kSumScaleAttr, sum_scale);
    node.attrs.set(kOutputTypeAttr, dtype_name(graph_.value(y).dtype));
    if (real_units) node.attrs.set(kPostScaleAttr, 1.0f / y_scale);
    set_activation_attributes(activation, node.attrs);
    summary_.quantized.push_back(node.name);
    graph_.nodes.push_back(std::move(node));
    return {};
  }

  Graph& graph_;
  const std::map<std::string, TensorStats>& stats_;
  const QuantConfig& config_;
  const QuantizeOptions& options_;
  std::map<int64_t, LayerQuantSettings> settings_;  // node index -> settings, for quantized convs
  std::map<ValueId, LayerQuantSettings> method_of_;
  std::set<ValueId> int8_readers_, graph_outputs_;
  std::set<int64_t> int8_channel_ops_;  // node indices of squeeze-excitation ops run in int8
  std::set<int64_t> int8_concats_;      // node indices of Concats run in int8
  std::map<ValueId, ValueId> grid_of_;  // a Concat input -> the Concat output whose grid it is written on
  std::map<ValueId, ValueId> quantized_, dequantized_;
  QuantizationSummary summary_;
};

}  // namespace

std::string source_op_type(const Node& node) {
  if (node.domain == kKestrelDomain && node.op_type.rfind("Fused", 0) == 0) return node.op_type.substr(5);
  return node.op_type;
}

std::vector<std::string> tensors_to_calibrate(const Graph& graph, const QuantConfig& config) {
  std::set<std::string> names;
  for (const Node& node : graph.nodes) {
    if (!is_conv(node) || !kept_float_reason(graph, node, config).empty()) continue;
    for (ValueId value : conv_activations(node)) names.insert(graph.value(value).name);
  }
  // A channel Concat may run in int8 (QConcat), on its output's grid (a
  // MaxPool may be its only reader).
  for (const Node& node : graph.nodes) {
    if (is_channel_concat(graph, node)) names.insert(graph.value(node.outputs[0]).name);
  }
  return {names.begin(), names.end()};
}

StatusOr<QuantizationSummary> quantize_graph(Graph& graph, const std::map<std::string, TensorStats>& stats,
                                             const QuantConfig& config, const QuantizeOptions& options) {
  GraphQuantizer quantizer(graph, stats, config, options);
  KESTREL_ASSIGN_OR_RETURN(QuantizationSummary summary, quantizer.run());
  KESTREL_RETURN_IF_ERROR(graph.verify().with_context("IR invalid after quantization"));
  return summary;
}

}  // namespace kestrel
