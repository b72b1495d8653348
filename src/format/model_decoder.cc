#include "format/model_decoder.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "format/file_header.h"

namespace kestrel {
namespace {

// Copied byte-wise: a tampered file may place a vector at an offset that is
// not aligned for T, where element-wise loads would be undefined behaviour.
template <typename T>
std::vector<T> to_vector(const flatbuffers::Vector<T>* values) {
  static_assert(std::is_arithmetic_v<T>, "byte-wise copies are for scalar vectors");
  if (values == nullptr) return {};
  std::vector<T> copy(values->size());
  if (!copy.empty()) std::memcpy(copy.data(), values->Data(), copy.size() * sizeof(T));
  return copy;
}

std::string to_string(const flatbuffers::String* text) { return text == nullptr ? std::string() : text->str(); }

// No default case: -Wswitch flags this function when a layout is added.
bool is_known_layout(uint8_t raw) {
  switch (static_cast<Layout>(raw)) {
    case Layout::kPlain:
    case Layout::kNhwc: return true;
  }
  return false;
}

class Decoder {
 public:
  Decoder(const WeightsSection& weights, const std::string& label) : weights_(weights), label_(label) {}

  StatusOr<ModelFile> decode(const fb::Model& model);

 private:
  template <typename... Args>
  Status corrupt(const Args&... args) const {
    return data_loss(label_, ": invalid model: ", args...);
  }

  StatusOr<Tensor> decode_tensor(const fb::TensorData* data, const std::string& what) const;
  StatusOr<Tensor> wrap_blob(const fb::BlobRef& blob, DType dtype, Shape shape, uint64_t bytes,
                             const std::string& what) const;
  Status decode_values(const fb::Graph& src, Graph& graph) const;
  Status check_value_ids(const flatbuffers::Vector<int32_t>* ids, size_t value_count, bool allow_omitted,
                         const std::string& what) const;
  Status decode_nodes(const fb::Graph& src, Graph& graph) const;
  StatusOr<AttributeValue> decode_attribute(const fb::Attribute& attr, const std::string& what) const;
  Status decode_plan(const fb::MemoryPlan* src, const Graph& graph, MemoryPlan& plan) const;
  Status decode_quant(const fb::Model& src, Graph& graph) const;
  Status check_quant(const QuantParams& params, const Value& value, const std::string& what) const;

  const WeightsSection& weights_;
  const std::string& label_;
};

StatusOr<Tensor> Decoder::decode_tensor(const fb::TensorData* data, const std::string& what) const {
  if (data == nullptr) return corrupt(what, ": tensor data is missing");
  const DType dtype = dtype_from_int(data->dtype());
  if (!dtype_is_supported(dtype)) return corrupt(what, ": tensor has unsupported dtype ", data->dtype());
  Shape shape = to_vector(data->shape());
  const std::optional<uint64_t> bytes = dense_tensor_bytes(dtype, shape);
  if (!bytes) return corrupt(what, ": tensor has invalid shape ", shape_string(shape));
  if ((data->blob() == nullptr) == (data->inline_data() == nullptr)) {
    return corrupt(what, ": tensor data must be either in the weights section or inline, not ",
                   data->blob() ? "both" : "neither");
  }
  if (data->blob() != nullptr) return wrap_blob(*data->blob(), dtype, std::move(shape), *bytes, what);
  const auto* inline_data = data->inline_data();
  if (inline_data->size() != *bytes) {
    return corrupt(what, ": ", dtype_name(dtype), shape_string(shape), " needs ", *bytes, " bytes, inline data has ",
                   inline_data->size());
  }
  Tensor tensor(dtype, std::move(shape));  // copied: inline data is not 64-byte aligned
  if (*bytes != 0) std::memcpy(tensor.raw_data(), inline_data->data(), *bytes);
  return tensor;
}

StatusOr<Tensor> Decoder::wrap_blob(const fb::BlobRef& blob, DType dtype, Shape shape, uint64_t bytes,
                                    const std::string& what) const {
  if (blob.offset() % kWeightAlignment != 0) {
    return corrupt(what, ": weight blob offset ", blob.offset(), " is not a multiple of ", kWeightAlignment);
  }
  if (blob.offset() > weights_.size || blob.size() > weights_.size - blob.offset()) {
    return corrupt(what, ": weight blob [", blob.offset(), ", +", blob.size(), ") lies outside the ", weights_.size,
                   "-byte weights section");
  }
  if (blob.size() != bytes) {
    return corrupt(what, ": ", dtype_name(dtype), shape_string(shape), " needs ", bytes, " bytes, its weight blob has ",
                   blob.size());
  }
  return Tensor::wrap(dtype, std::move(shape), weights_.owner, weights_.data + blob.offset());
}

Status Decoder::decode_values(const fb::Graph& src, Graph& graph) const {
  const auto* values = src.values();
  if (values == nullptr) return {};
  if (values->size() > static_cast<size_t>(std::numeric_limits<ValueId>::max())) {
    return corrupt("too many values (", values->size(), ")");
  }
  for (const fb::Value* entry : *values) {
    const std::string what = str_cat("value #", graph.values.size(), " '", to_string(entry->name()), "'");
    Value value;
    value.name = to_string(entry->name());
    if (!value.name.empty() && graph.find_value(value.name) != kNoValue) return corrupt(what, ": duplicate value name");
    value.dtype = dtype_from_int(entry->dtype());
    if (value.dtype == DType::kUndefined && entry->dtype() != 0)
      return corrupt(what, ": unknown dtype ", entry->dtype());
    value.shape = to_vector(entry->shape());
    for (int64_t dim : value.shape) {
      if (dim < -1) return corrupt(what, ": invalid shape ", shape_string(value.shape));
    }
    value.shape_known = entry->shape_known();
    if (!is_known_layout(entry->layout())) return corrupt(what, ": unknown layout ", static_cast<int>(entry->layout()));
    value.layout = static_cast<Layout>(entry->layout());
    if (entry->constant() != nullptr) {
      KESTREL_ASSIGN_OR_RETURN(value.constant, decode_tensor(entry->constant(), what));
      // Kernels read the tensor, shape functions the value: they must agree.
      if (value.constant->dtype() != value.dtype || value.constant->shape() != value.shape || !value.shape_known) {
        return corrupt(what, ": is declared ", dtype_name(value.dtype), " ", shape_string(value.shape),
                       " but its constant is ", dtype_name(value.constant->dtype()), " ",
                       shape_string(value.constant->shape()));
      }
    }
    graph.add_value(std::move(value));
  }
  return {};
}

Status Decoder::check_value_ids(const flatbuffers::Vector<int32_t>* ids, size_t value_count, bool allow_omitted,
                                const std::string& what) const {
  if (ids == nullptr) return {};
  for (int32_t id : *ids) {
    const bool omitted = allow_omitted && id == kNoValue;
    if (!omitted && (id < 0 || static_cast<size_t>(id) >= value_count)) {
      return corrupt(what, " refers to value #", id, ", but the graph has ", value_count, " values");
    }
  }
  return {};
}

Status Decoder::decode_nodes(const fb::Graph& src, Graph& graph) const {
  if (src.nodes() == nullptr) return {};
  for (const fb::Node* entry : *src.nodes()) {
    Node node;
    node.name = to_string(entry->name());
    node.op_type = to_string(entry->op_type());
    node.domain = to_string(entry->domain());
    const std::string what = str_cat("node #", graph.nodes.size(), " '", node.name, "' (", node.op_type, ")");
    if (node.op_type.empty()) return corrupt(what, ": empty op type");
    KESTREL_RETURN_IF_ERROR(check_value_ids(entry->inputs(), graph.values.size(), true, what + " input"));
    KESTREL_RETURN_IF_ERROR(check_value_ids(entry->outputs(), graph.values.size(), true, what + " output"));
    node.inputs = to_vector(entry->inputs());
    node.outputs = to_vector(entry->outputs());
    if (entry->attributes() != nullptr) {
      for (const fb::Attribute* attr : *entry->attributes()) {
        const std::string name = to_string(attr->name());
        const std::string attr_what = str_cat(what, " attribute '", name, "'");
        if (name.empty()) return corrupt(what, ": attribute without a name");
        if (node.attrs.has(name)) return corrupt(attr_what, ": duplicate attribute");
        KESTREL_ASSIGN_OR_RETURN(AttributeValue value, decode_attribute(*attr, attr_what));
        node.attrs.set(name, std::move(value));
      }
    }
    graph.nodes.push_back(std::move(node));
  }
  return {};
}

StatusOr<AttributeValue> Decoder::decode_attribute(const fb::Attribute& attr, const std::string& what) const {
  // The verifier accepts a union whose type is set but whose table is absent.
  if (attr.data() == nullptr) return corrupt(what, ": attribute has no value");
  switch (attr.data_type()) {
    case fb::AttributeData::IntAttr: return AttributeValue(attr.data_as_IntAttr()->value());
    case fb::AttributeData::FloatAttr: return AttributeValue(attr.data_as_FloatAttr()->value());
    case fb::AttributeData::StringAttr: return AttributeValue(to_string(attr.data_as_StringAttr()->value()));
    case fb::AttributeData::IntsAttr: return AttributeValue(to_vector(attr.data_as_IntsAttr()->values()));
    case fb::AttributeData::FloatsAttr: return AttributeValue(to_vector(attr.data_as_FloatsAttr()->values()));
    case fb::AttributeData::StringsAttr: {
      std::vector<std::string> strings;
      if (const auto* values = attr.data_as_StringsAttr()->values()) {
        for (const flatbuffers::String* text : *values) strings.push_back(to_string(text));
      }
      return AttributeValue(std::move(strings));
    }
    case fb::AttributeData::TensorAttr: {
      KESTREL_ASSIGN_OR_RETURN(Tensor tensor, decode_tensor(attr.data_as_TensorAttr()->value(), what));
      return AttributeValue(std::move(tensor));
    }
    case fb::AttributeData::NONE: break;
  }
  return corrupt(what, ": attribute has no value or an unknown kind ", static_cast<int>(attr.data_type()));
}

Status Decoder::decode_plan(const fb::MemoryPlan* src, const Graph& graph, MemoryPlan& plan) const {
  if (src == nullptr) return {};
  plan.arena_bytes = src->arena_bytes();
  plan.value_offsets = to_vector(src->value_offsets());
  if (plan.arena_bytes < 0) return corrupt("memory plan: negative arena size ", plan.arena_bytes);
  if (plan.value_offsets.size() != graph.values.size()) {
    return corrupt("memory plan has ", plan.value_offsets.size(), " value offsets for ", graph.values.size(),
                   " values");
  }
  for (size_t id = 0; id < plan.value_offsets.size(); ++id) {
    const int64_t offset = plan.value_offsets[id];
    if (offset == -1) continue;
    const Value& value = graph.values[id];
    // A value of unknown size must at least start inside the arena.
    const std::optional<uint64_t> bytes =
        value.shape_known ? dense_tensor_bytes(value.dtype, value.shape) : std::optional<uint64_t>(0);
    const uint64_t extent = bytes.value_or(0);
    if (offset < 0 || offset > plan.arena_bytes || extent > static_cast<uint64_t>(plan.arena_bytes - offset)) {
      return corrupt("memory plan places value #", id, " '", value.name, "' (", extent, " bytes) at offset ", offset,
                     ", outside the ", plan.arena_bytes, "-byte arena");
    }
  }
  return {};
}

Status Decoder::check_quant(const QuantParams& params, const Value& value, const std::string& what) const {
  if (params.scales.empty()) return corrupt(what, ": no scales");
  for (float scale : params.scales) {
    if (!std::isfinite(scale) || scale <= 0.0f) return corrupt(what, ": scale ", scale, " is not a positive number");
  }
  if (!params.zero_points.empty() && params.zero_points.size() != params.scales.size()) {
    return corrupt(what, ": ", params.zero_points.size(), " zero points for ", params.scales.size(), " scales");
  }
  if (params.scales.size() > 1 && value.shape_known) {
    const int64_t rank = static_cast<int64_t>(value.shape.size());
    if (params.axis < -rank || params.axis >= rank) return corrupt(what, ": axis ", params.axis, " out of range");
    const int64_t dim = value.shape[static_cast<size_t>(params.axis < 0 ? params.axis + rank : params.axis)];
    if (dim >= 0 && static_cast<size_t>(dim) != params.scales.size()) {
      return corrupt(what, ": ", params.scales.size(), " scales along an axis of size ", dim);
    }
  }
  return {};
}

Status Decoder::decode_quant(const fb::Model& src, Graph& graph) const {
  if (src.quant() == nullptr) return {};
  for (const fb::QuantParam* entry : *src.quant()) {
    const ValueId id = entry->value();
    const std::string what = str_cat("quantization parameters of value #", id);
    if (id < 0 || static_cast<size_t>(id) >= graph.values.size()) return corrupt(what, ": no such value");
    if (graph.value(id).quant) return corrupt(what, ": given twice");
    QuantParams params{to_vector(entry->scales()), to_vector(entry->zero_points()), entry->axis()};
    KESTREL_RETURN_IF_ERROR(check_quant(params, graph.value(id), what));
    graph.value(id).quant = std::move(params);
  }
  return {};
}

StatusOr<ModelFile> Decoder::decode(const fb::Model& src) {
  ModelFile model;
  if (src.target() == nullptr) return corrupt("no target descriptor");
  model.isa = to_string(src.target()->isa());
  model.required_features = src.target()->required_features();
  const fb::Graph* graph = src.graph();
  if (graph == nullptr) return corrupt("no graph");
  model.graph.name = to_string(graph->name());
  model.graph.opset = graph->opset();
  KESTREL_RETURN_IF_ERROR(decode_values(*graph, model.graph));
  KESTREL_RETURN_IF_ERROR(decode_nodes(*graph, model.graph));
  KESTREL_RETURN_IF_ERROR(check_value_ids(graph->inputs(), model.graph.values.size(), false, "graph input"));
  KESTREL_RETURN_IF_ERROR(check_value_ids(graph->outputs(), model.graph.values.size(), false, "graph output"));
  model.graph.inputs = to_vector(graph->inputs());
  model.graph.outputs = to_vector(graph->outputs());
  const Status verified = model.graph.verify();
  if (!verified.ok()) return corrupt("inconsistent graph: ", verified.message());
  KESTREL_RETURN_IF_ERROR(decode_plan(src.memory_plan(), model.graph, model.plan));
  KESTREL_RETURN_IF_ERROR(decode_quant(src, model.graph));
  if (src.metadata() != nullptr) {
    for (const fb::KeyValue* entry : *src.metadata()) {
      model.metadata.emplace_back(to_string(entry->key()), to_string(entry->value()));
    }
  }
  return model;
}

}  // namespace

std::optional<uint64_t> dense_tensor_bytes(DType dtype, const Shape& shape) {
  uint64_t bytes = dtype_size(dtype);
  if (bytes == 0) return std::nullopt;
  for (int64_t dim : shape) {
    if (dim < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) return std::nullopt;
  }
  // Element counts must also fit Tensor's int64 arithmetic.
  if (bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return bytes;
}

StatusOr<ModelFile> decode_model(const fb::Model& model, const WeightsSection& weights, const std::string& label) {
  return Decoder(weights, label).decode(model);
}

}  // namespace kestrel
