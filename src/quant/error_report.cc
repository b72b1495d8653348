#include "quant/error_report.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "kernels/quantized_conv.h"
#include "passes/compile.h"
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
  int64_t beyond = 0;
  const float lo = actual.dtype() == DType::kInt8 ? -128.0f * scale : 0.0f;
  const float hi = actual.dtype() == DType::kInt8 ? 127.0f * scale : 255.0f * scale;
  const bool is_int8 = actual.dtype() == DType::kInt8 || actual.dtype() == DType::kUInt8;
  for (int64_t i = 0; i < actual.size(); ++i) {
    const double x = reference[static_cast<size_t>(i)];
    const double y = value_at(actual, i, scale);
    signal += x * x, noise += (x - y) * (x - y), dot += x * y, power += y * y;
    beyond += is_int8 && (x < lo || x > hi);
  }
  LayerError error;
  error.sqnr_db = noise > 0 ? kDecibelsPerDecade * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
  error.cosine = signal > 0 && power > 0 ? dot / std::sqrt(signal * power) : 1.0;
  error.saturated = actual.size() > 0 ? static_cast<double>(beyond) / static_cast<double>(actual.size()) : 0.0;
  error.dtype = dtype_name(actual.dtype());
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
  std::set<std::string> wanted;
  std::map<std::string, std::string> node_of;  // tensor -> node
  for (const Node& node : quantized_graph.nodes) {
    if (node.op_type != kQuantizedConvOp) continue;
    wanted.insert(quantized_graph.value(node.outputs[0]).name);
    node_of[quantized_graph.value(node.outputs[0]).name] = node.name;
  }
  for (ValueId out : quantized_graph.outputs) {
    wanted.insert(quantized_graph.value(out).name);
    node_of[quantized_graph.value(out).name] = "(graph output)";
  }
  std::shared_ptr<const Graph> float_lowered, int8_lowered;
  KESTREL_ASSIGN_OR_RETURN(auto float_session, make_session(float_graph, float_lowered));
  KESTREL_ASSIGN_OR_RETURN(auto int8_session, make_session(quantized_graph, int8_lowered));
  if (float_session->input(0).shape() != input.shape() || int8_session->input(0).shape() != input.shape()) {
    return invalid_argument("error report input ", shape_string(input.shape()), " does not fit the model");
  }

  std::map<std::string, Captured> reference;
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
      auto it = reference.find(value.name);
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
  std::stable_sort(errors.begin(), errors.end(), [](const LayerError& a, const LayerError& b) { return a.sqnr_db < b.sqnr_db; });
  return errors;
}

}  // namespace kestrel
