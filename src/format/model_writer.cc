// Writing a .kestrel file: the graph and its side tables go into one
// FlatBuffer, tensor data into a weights section of 64-byte-aligned blobs.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <type_traits>

#include "base/safe_write.h"
#include "format/checksum.h"
#include "format/file_header.h"
#include "format/model_decoder.h"

#ifndef KESTREL_VERSION
#define KESTREL_VERSION "unknown"
#endif

namespace kestrel {
namespace {

using flatbuffers::Offset;

// Tensor attributes up to this size are stored inline: a blob would cost a
// whole aligned slot for a few bytes.
constexpr size_t kInlineTensorLimit = 64;

class Serializer {
 public:
  Serializer() {
    // -0.0f and 0 would otherwise be dropped as "defaults" and read back as +0.0f.
    builder_.ForceDefaults(true);
  }

  StatusOr<std::vector<uint8_t>> serialize(const ModelFile& model);

 private:
  StatusOr<Offset<fb::TensorData>> encode_tensor(const Tensor& tensor, bool allow_inline, const std::string& what);
  StatusOr<Offset<fb::Attribute>> encode_attribute(const std::string& name, const AttributeValue& value,
                                                   const std::string& what);
  StatusOr<Offset<fb::Value>> encode_value(const Value& value, size_t id);
  StatusOr<Offset<fb::Node>> encode_node(const Node& node);
  StatusOr<Offset<fb::Graph>> encode_graph(const Graph& graph);
  Offset<fb::MemoryPlan> encode_plan(const MemoryPlan& plan);
  Offset<flatbuffers::Vector<Offset<fb::QuantParam>>> encode_quant(const Graph& graph);
  std::vector<uint8_t> assemble() const;

  flatbuffers::FlatBufferBuilder builder_{1 << 16};
  std::vector<uint8_t> weights_;
};

StatusOr<Offset<fb::TensorData>> Serializer::encode_tensor(const Tensor& tensor, bool allow_inline,
                                                           const std::string& what) {
  if (!dtype_is_supported(tensor.dtype())) {
    return invalid_argument(what, ": cannot store a tensor of dtype ", dtype_name(tensor.dtype()));
  }
  const auto* bytes = static_cast<const uint8_t*>(tensor.raw_data());
  const auto shape = builder_.CreateVector(tensor.shape());
  if (allow_inline && tensor.nbytes() <= kInlineTensorLimit) {
    const auto data = builder_.CreateVector(bytes, tensor.nbytes());
    return fb::CreateTensorData(builder_, static_cast<int32_t>(tensor.dtype()), shape, nullptr, data);
  }
  const fb::BlobRef blob(weights_.size(), tensor.nbytes());
  weights_.insert(weights_.end(), bytes, bytes + tensor.nbytes());
  weights_.resize(align_up(weights_.size(), kWeightAlignment), 0);
  return fb::CreateTensorData(builder_, static_cast<int32_t>(tensor.dtype()), shape, &blob);
}

StatusOr<Offset<fb::Attribute>> Serializer::encode_attribute(const std::string& name, const AttributeValue& value,
                                                             const std::string& what) {
  const auto name_offset = builder_.CreateString(name);
  auto& b = builder_;
  return std::visit(
      [&](const auto& v) -> StatusOr<Offset<fb::Attribute>> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          return fb::CreateAttribute(b, name_offset, fb::AttributeData::IntAttr, fb::CreateIntAttr(b, v).Union());
        } else if constexpr (std::is_same_v<T, float>) {
          return fb::CreateAttribute(b, name_offset, fb::AttributeData::FloatAttr, fb::CreateFloatAttr(b, v).Union());
        } else if constexpr (std::is_same_v<T, std::string>) {
          const auto text = b.CreateString(v);
          return fb::CreateAttribute(b, name_offset, fb::AttributeData::StringAttr,
                                     fb::CreateStringAttr(b, text).Union());
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          const auto values = b.CreateVector(v);
          return fb::CreateAttribute(b, name_offset, fb::AttributeData::IntsAttr,
                                     fb::CreateIntsAttr(b, values).Union());
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          const auto values = b.CreateVector(v);
          return fb::CreateAttribute(b, name_offset, fb::AttributeData::FloatsAttr,
                                     fb::CreateFloatsAttr(b, values).Union());
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          const auto values = b.CreateVectorOfStrings(v);
          return fb::CreateAttribute(b, name_offset, fb::AttributeData::StringsAttr,
                                     fb::CreateStringsAttr(b, values).Union());
        } else {
          static_assert(std::is_same_v<T, Tensor>, "every AttributeValue alternative needs an encoding");
          KESTREL_ASSIGN_OR_RETURN(const auto data, encode_tensor(v, true, what));
          return fb::CreateAttribute(b, name_offset, fb::AttributeData::TensorAttr,
                                     fb::CreateTensorAttr(b, data).Union());
        }
      },
      value);
}

StatusOr<Offset<fb::Value>> Serializer::encode_value(const Value& value, size_t id) {
  Offset<fb::TensorData> constant;
  if (value.constant) {
    KESTREL_ASSIGN_OR_RETURN(
        constant, encode_tensor(*value.constant, false, str_cat("constant value #", id, " '", value.name, "'")));
  }
  const auto name = builder_.CreateString(value.name);
  const auto shape = builder_.CreateVector(value.shape);
  return fb::CreateValue(builder_, name, static_cast<int32_t>(value.dtype), shape, value.shape_known, constant,
                         static_cast<uint8_t>(value.layout));
}

StatusOr<Offset<fb::Node>> Serializer::encode_node(const Node& node) {
  std::vector<Offset<fb::Attribute>> attributes;
  for (const auto& [name, value] : node.attrs.all()) {
    KESTREL_ASSIGN_OR_RETURN(auto attribute, encode_attribute(name, value, node.label() + " attribute '" + name + "'"));
    attributes.push_back(attribute);
  }
  return fb::CreateNodeDirect(builder_, node.name.c_str(), node.op_type.c_str(), node.domain.c_str(), &node.inputs,
                              &node.outputs, &attributes);
}

StatusOr<Offset<fb::Graph>> Serializer::encode_graph(const Graph& graph) {
  std::vector<Offset<fb::Value>> values;
  values.reserve(graph.values.size());
  for (size_t id = 0; id < graph.values.size(); ++id) {
    KESTREL_ASSIGN_OR_RETURN(auto value, encode_value(graph.values[id], id));
    values.push_back(value);
  }
  std::vector<Offset<fb::Node>> nodes;
  nodes.reserve(graph.nodes.size());
  for (const Node& node : graph.nodes) {
    KESTREL_ASSIGN_OR_RETURN(auto encoded, encode_node(node));
    nodes.push_back(encoded);
  }
  return fb::CreateGraphDirect(builder_, graph.name.c_str(), graph.opset, &values, &nodes, &graph.inputs,
                               &graph.outputs);
}

Offset<fb::MemoryPlan> Serializer::encode_plan(const MemoryPlan& plan) {
  if (plan.arena_bytes == 0 && plan.value_offsets.empty()) return 0;
  return fb::CreateMemoryPlanDirect(builder_, plan.arena_bytes, &plan.value_offsets);
}

Offset<flatbuffers::Vector<Offset<fb::QuantParam>>> Serializer::encode_quant(const Graph& graph) {
  std::vector<Offset<fb::QuantParam>> entries;
  for (size_t id = 0; id < graph.values.size(); ++id) {
    const auto& params = graph.values[id].quant;
    if (!params) continue;
    entries.push_back(fb::CreateQuantParamDirect(builder_, static_cast<ValueId>(id), &params->scales,
                                                 &params->zero_points, params->axis));
  }
  if (entries.empty()) return 0;
  return builder_.CreateVector(entries);
}

std::vector<uint8_t> Serializer::assemble() const {
  FileHeader header;
  header.flatbuffer_offset = kHeaderSize;
  header.flatbuffer_size = builder_.GetSize();
  header.weights_offset = align_up(header.flatbuffer_offset + header.flatbuffer_size, kWeightAlignment);
  header.weights_size = weights_.size();
  header.file_size = header.weights_offset + header.weights_size;
  std::vector<uint8_t> file(header.file_size, 0);
  std::memcpy(file.data() + header.flatbuffer_offset, builder_.GetBufferPointer(), header.flatbuffer_size);
  if (!weights_.empty()) std::memcpy(file.data() + header.weights_offset, weights_.data(), weights_.size());
  header.checksum = model_checksum(file.data() + kHeaderSize, file.size() - kHeaderSize);
  const auto header_bytes = encode_file_header(header);
  std::memcpy(file.data(), header_bytes.data(), header_bytes.size());
  return file;
}

StatusOr<std::vector<uint8_t>> Serializer::serialize(const ModelFile& model) {
  size_t constant_bytes = 0;
  for (const Value& value : model.graph.values) {
    if (value.constant) constant_bytes += align_up(value.constant->nbytes(), kWeightAlignment);
  }
  weights_.reserve(constant_bytes);
  KESTREL_ASSIGN_OR_RETURN(const auto graph, encode_graph(model.graph));
  const auto target = fb::CreateTargetDirect(builder_, model.isa.c_str(), model.required_features);
  const auto plan = encode_plan(model.plan);
  const auto quant = encode_quant(model.graph);
  std::vector<Offset<fb::KeyValue>> metadata;
  for (const auto& [key, value] : model.metadata) {
    metadata.push_back(fb::CreateKeyValueDirect(builder_, key.c_str(), value.c_str()));
  }
  builder_.Finish(fb::CreateModel(builder_, target, graph, plan, quant, builder_.CreateVector(metadata)),
                  fb::ModelIdentifier());
  return assemble();
}

Status check_writable(const ModelFile& model) {
  const Status verified = model.graph.verify();
  if (!verified.ok()) return invalid_argument("cannot write an invalid graph: ", verified.message());
  if (model.graph.values.size() > static_cast<size_t>(std::numeric_limits<ValueId>::max())) {
    return invalid_argument("too many values (", model.graph.values.size(), ")");
  }
  return {};
}

}  // namespace

StatusOr<std::vector<uint8_t>> serialize_model(const ModelFile& model) {
  KESTREL_RETURN_IF_ERROR(check_writable(model));
  KESTREL_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, Serializer().serialize(model));
  // Re-reading catches whatever the reader would refuse (a plan that does not
  // fit its arena, bad scales, ...) here, where the mistake was made.
  const auto reread = parse_model_file_bytes(nullptr, bytes.data(), bytes.size(), "model being written", false);
  if (!reread.ok())
    return invalid_argument("refusing to write a model the reader would reject: ", reread.status().message());
  return bytes;
}

// Atomic and safe (base/safe_write.h): a fresh temporary beside the target,
// never a planted link, the replaced file's mode kept, the old model intact
// on any failure.
Status write_model_file(const std::string& path, const ModelFile& model) {
  KESTREL_ASSIGN_OR_RETURN(const std::vector<uint8_t> bytes, serialize_model(model));
  return write_file_atomically(path, bytes.data(), bytes.size(), "model file");
}

std::vector<std::pair<std::string, std::string>> standard_metadata(const std::string& source_model) {
  char created[32] = "unknown";
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  if (gmtime_r(&now, &utc) != nullptr) std::strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {{"producer", "kestrel"},
          {"kestrel_version", KESTREL_VERSION},
          {"created", created},
          {"source_model", source_model}};
}

}  // namespace kestrel
