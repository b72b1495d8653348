#include "quant/error_report.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "kernels/quantized_conv.h"
#include "passes/compile.h"
#include "quant/quantize.h"
#include "runtime/session.h"

namespace kestrel {
namespace {

constexpr double kDecibelsPerDecade = 10.0;

struct Captured {
  Layout layout = Layout::kPlain;
  std::vector<float> values;
};

float value_at(const Tensor& tensor, int64_t i, float scale) {
  switch (tensor.dtype()) {
    case DType::kUInt8: return scale * static_cast<float>(tensor.data<uint8_t>()[i]);
    case DType::kInt8: return scale * static_cast<float>(tensor.data<int8_t>()[i]);
    default: return tensor.data<float>()[i];
  }
}

LayerError compare(const std::vector<float>& reference, const Tensor& actual, const QuantParams* quant) {
  const float scale = quant ? quant->scales[0] : 1.0f;
  double signal = 0, noise = 0, dot = 0, power = 0;
  for (int64_t i = 0; i < actual.size(); ++i) {
    const double x = reference[static_cast<size_t>(i)];
    const double y = value_at(actual, i, scale);
    signal += x * x, noise += (x - y) * (x - y), dot += x * y, power += y * y;
  }
  LayerError error;
  error.sqnr_db = noise > 0 ? kDecibelsPerDecade * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
  error.cosine = signal > 0 && power > 0 ? dot / std::sqrt(signal * power) : 1.0;
  error.dtype = dtype_name(actual.dtype());
  error.own_sqnr_db = std::numeric_limits<double>::infinity();
  const bool is_int8 = actual.dtype() == DType::kInt8 || actual.dtype() == DType::kUInt8;
  if (is_int8 && quant) {
    auto own = quantization_error(reference.data(), static_cast<int64_t>(reference.size()), scale, 0, actual.dtype());
    if (own.ok()) {
      error.own_sqnr_db = own->sqnr_db;
      error.saturated = own->saturated_fraction;
    }
  }
  return error;
}

StatusOr<std::unique_ptr<Session>> make_session(const Graph& graph, std::shared_ptr<const Graph>& lowered) {
  KESTREL_ASSIGN_OR_RETURN(CompiledGraph compiled, lower_for_cpu(graph));
  lowered = std::make_shared<const Graph>(std::move(compiled.graph));
  return Session::create(lowered, compiled.plan, {});
}

}  // namespace

StatusOr<std::vector<LayerError>> measure_layer_errors(const Graph& float_graph, const Graph& quantized_graph,
                                                       const Tensor& input) {
  std::shared_ptr<const Graph> float_lowered, int8_lowered;
  KESTREL_ASSIGN_OR_RETURN(auto float_session, make_session(float_graph, float_lowered));
  KESTREL_ASSIGN_OR_RETURN(auto int8_session, make_session(quantized_graph, int8_lowered));
  // int8-model tensor -> the FP32 model's tensor it stands for.
  std::map<std::string, std::string> reference_of;
  std::map<std::string, std::string> node_of;  // int8-model tensor -> node
  for (const Node& node : (*int8_lowered).nodes) {
    const std::string& out = (*int8_lowered).value(node.outputs[0]).name;
    if (node.op_type == kQuantizedConvOp) {
      reference_of[out] = out;
    } else if (node.op_type == "QuantizeLinear") {
      reference_of[out] = (*int8_lowered).value(node.inputs[0]).name;
    } else {
      continue;
    }
    node_of[out] = node.name;
  }
  for (ValueId out : (*int8_lowered).outputs) {
    reference_of[(*int8_lowered).value(out).name] = (*int8_lowered).value(out).name;
    node_of[(*int8_lowered).value(out).name] = "(graph output)";
  }
  std::set<std::string> wanted;
  for (const auto& [tensor, reference] : reference_of) wanted.insert(reference);
  if (float_session->input(0).shape() != input.shape() || int8_session->input(0).shape() != input.shape()) {
    return invalid_argument("error report input ", shape_string(input.shape()), " does not fit the model");
  }

  std::map<std::string, Captured> reference;
  for (ValueId in : float_graph.inputs) {  // no node produces them
    if (wanted.count(float_graph.value(in).name) && input.dtype() == DType::kFloat32) {
      reference[float_graph.value(in).name] = {
          Layout::kPlain, std::vector<float>(input.data<float>(), input.data<float>() + input.size())};
    }
  }
  float_session->set_observer([&](const Node& node, const std::vector<const Tensor*>& outputs) {
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Value& value = float_lowered->value(node.outputs[i]);
      if (!wanted.count(value.name) || outputs[i]->dtype() != DType::kFloat32) continue;
      const float* data = outputs[i]->data<float>();
      reference[value.name] = {value.layout, std::vector<float>(data, data + outputs[i]->size())};
    }
  });
  std::vector<LayerError> errors;
  int8_session->set_observer([&](const Node& node, const std::vector<const Tensor*>& outputs) {
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Value& value = int8_lowered->value(node.outputs[i]);
      auto name = reference_of.find(value.name);
      if (name == reference_of.end()) continue;
      auto it = reference.find(name->second);
      if (it == reference.end() || it->second.layout != value.layout ||
          static_cast<int64_t>(it->second.values.size()) != outputs[i]->size()) {
        continue;
      }
      LayerError error = compare(it->second.values, *outputs[i], value.quant ? &*value.quant : nullptr);
      error.node = node_of[value.name];
      error.tensor = value.name;
      errors.push_back(std::move(error));
    }
  });
  std::memcpy(float_session->input(0).raw_data(), input.raw_data(), input.nbytes());
  std::memcpy(int8_session->input(0).raw_data(), input.raw_data(), input.nbytes());
  KESTREL_RETURN_IF_ERROR(float_session->run());
  KESTREL_RETURN_IF_ERROR(int8_session->run());
  std::stable_sort(errors.begin(), errors.end(),
                   [](const LayerError& a, const LayerError& b) { return a.own_sqnr_db < b.own_sqnr_db; });
  return errors;
}

}  // namespace kestrel
