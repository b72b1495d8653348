#include "kernels/op_registry.h"

#include <algorithm>
#include <sstream>

namespace kestrel {

InferContext::InferContext(const Node& node, int64_t opset, std::vector<TensorInfo> inputs)
    : node_(node), opset_(opset), inputs_(std::move(inputs)), outputs_(node.outputs.size()) {}

void InferContext::set_output(size_t i, DType dtype, Shape shape) {
  if (i >= outputs_.size()) return;  // an optional output the model does not use
  outputs_[i].dtype = dtype;
  outputs_[i].shape = std::move(shape);
}

void InferContext::set_output_data(size_t i, Tensor value) {
  if (i >= outputs_.size()) return;
  outputs_[i].dtype = value.dtype();
  outputs_[i].shape = value.shape();
  outputs_[i].data = std::move(value);
}

Status InferContext::expect_inputs(size_t min, size_t max) const {
  size_t present = inputs_.size();
  while (present > 0 && !has_input(present - 1)) --present;  // trailing omitted optionals
  if (present < min || inputs_.size() > max) {
    return error("expects ", min, min == max ? "" : str_cat(" to ", max), " inputs, got ", inputs_.size());
  }
  for (size_t i = 0; i < min; ++i) {
    if (!has_input(i)) return error("required input ", i, " is missing");
  }
  return {};
}

const OpRegistry& OpRegistry::global() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_elementwise_ops(r);
    register_nn_ops(r);
    register_tensor_ops(r);
    register_fused_ops(r);
    register_quantized_ops(r);
    register_layout_ops(r);
    register_channel_ops(r);
    register_preprocess_frame_op(r);
    return r;
  }();
  return registry;
}

void OpRegistry::add(OpDef def) { ops_[std::string(def.op_type)] = def; }

const OpDef* OpRegistry::find(std::string_view op_type) const {
  auto it = ops_.find(std::string(op_type));
  return it == ops_.end() ? nullptr : &it->second;
}

const OpDef* OpRegistry::find(const Node& node) const {
  if (!node.domain.empty() && node.domain != kKestrelDomain) return nullptr;
  return find(node.op_type);
}

std::vector<std::string> OpRegistry::op_types() const {
  std::vector<std::string> names;
  for (const auto& entry : ops_) names.push_back(entry.first);
  std::sort(names.begin(), names.end());
  return names;
}

Status check_supported_ops(const Graph& graph) {
  std::ostringstream unsupported;
  int count = 0;
  for (const Node& node : graph.nodes) {
    const bool known = OpRegistry::global().find(node) != nullptr;
    if (known) continue;
    unsupported << (count++ ? ", " : "") << "'" << node.name << "' (" << (node.domain.empty() ? "" : node.domain + ":")
                << node.op_type << ")";
  }
  if (count == 0) return {};
  return unimplemented(count, " node", count == 1 ? " uses an" : "s use", " unsupported op: ", unsupported.str());
}

StatusOr<std::vector<Tensor>> run_node(const OpDef& def, const Node& node, int64_t opset,
                                       const std::vector<const Tensor*>& inputs) {
  std::vector<TensorInfo> infos(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == nullptr) continue;
    infos[i] = {inputs[i]->dtype(), inputs[i]->shape(), inputs[i]};
  }
  InferContext infer(node, opset, std::move(infos));
  KESTREL_RETURN_IF_ERROR(def.infer(infer));

  std::vector<Tensor> results;
  results.reserve(infer.outputs().size());
  bool all_computed = true;
  for (const auto& out : infer.outputs()) {
    if (out.data) {
      results.push_back(*out.data);
      continue;
    }
    all_computed = false;
    if (!dtype_is_supported(out.dtype)) {
      return internal_error(node.label(), ": shape function left an output without a type");
    }
    for (int64_t dim : out.shape) {
      if (dim < 0) return internal_error(node.label(), ": inferred a negative dim ", shape_string(out.shape));
    }
    results.emplace_back(out.dtype, out.shape);
  }
  if (all_computed) return results;
  if (def.run == nullptr) return internal_error(node.label(), ": op has no kernel");

  std::vector<Tensor*> outputs;
  outputs.reserve(results.size());
  for (Tensor& t : results) outputs.push_back(&t);
  KernelContext kernel(node, opset, inputs, std::move(outputs));
  KESTREL_RETURN_IF_ERROR(def.run(kernel));
  return results;
}

}  // namespace kestrel
