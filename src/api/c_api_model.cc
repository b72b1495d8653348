// C API: loading a .kestrel model and describing its inputs, outputs and metadata.
#include <algorithm>
#include <cstdlib>

#include "api/c_api_internal.h"
#include "format/model_file.h"
#include "runtime/rebatch.h"

namespace kestrel::c_api {
namespace {

constexpr const char* kIsaKey = "isa";
// The label load_model_buffer's errors give a model that has no path.
constexpr const char* kBufferLabel = "model buffer";

TensorDescription describe(const Value& value) {
  TensorDescription description;
  kestrel_tensor_info_t& info = description.info;
  info.name = value.name.c_str();
  info.dtype = static_cast<kestrel_dtype_t>(value.dtype);
  info.rank = value.shape.size();
  info.dims = value.shape.empty() ? nullptr : value.shape.data();
  info.bytes = static_cast<size_t>(shape_size(value.shape)) * dtype_size(value.dtype);
  if (value.quant && !value.quant->scales.empty()) {
    const QuantParams& quant = *value.quant;
    description.zero_points = quant.zero_points;
    description.zero_points.resize(quant.scales.size(), 0);
  }
  return description;
}

// Points each description's quant arrays at their storage, once the vector
// holding the descriptions no longer moves.
void link_quant(const Graph& graph, const std::vector<ValueId>& ids, std::vector<TensorDescription>& descriptions) {
  for (size_t i = 0; i < ids.size(); ++i) {
    const Value& value = graph.value(ids[i]);
    kestrel_quant_info_t& quant = descriptions[i].quant;
    if (!value.quant || value.quant->scales.empty()) continue;
    quant.quantized = 1;
    quant.count = value.quant->scales.size();
    quant.scales = value.quant->scales.data();
    quant.zero_points = descriptions[i].zero_points.data();
    quant.axis = value.quant->axis;
  }
}

std::vector<TensorDescription> describe_all(const Graph& graph, const std::vector<ValueId>& ids) {
  std::vector<TensorDescription> descriptions;
  descriptions.reserve(ids.size());
  for (ValueId id : ids) descriptions.push_back(describe(graph.value(id)));
  link_quant(graph, ids, descriptions);
  return descriptions;
}

StatusOr<kestrel_model*> make_model(ModelFile file, const std::string& label) {
  auto interface = std::make_shared<ModelInterface>();
  auto max_batch = model_max_batch(file.metadata, file.graph);
  if (!max_batch.ok()) return max_batch.status().with_context(label);
  interface->max_batch = *max_batch;
  for (int64_t batch = 1; batch < interface->max_batch; ++batch) {
    auto graph = rebatch_graph(file.graph, batch);
    if (!graph.ok()) return graph.status().with_context(label);
    interface->batch_graphs.push_back(std::make_shared<const Graph>(std::move(graph).value()));
  }
  interface->graph = std::make_shared<const Graph>(std::move(file.graph));
  interface->inputs = describe_all(*interface->graph, interface->graph->inputs);
  interface->outputs = describe_all(*interface->graph, interface->graph->outputs);
  auto* model = new kestrel_model{.interface = std::move(interface),
                                  .plan = std::move(file.plan),
                                  .metadata = std::move(file.metadata),
                                  .label = label};
  bool has_isa = false;
  for (const auto& entry : model->metadata) has_isa |= entry.first == kIsaKey;
  if (!has_isa) model->metadata.emplace_back(kIsaKey, file.isa);
  return model;
}

// A 64-byte-aligned copy the model owns: the caller may free its bytes at once.
StatusOr<std::shared_ptr<const void>> aligned_copy(const void* data, size_t size) {
  const size_t rounded = (std::max<size_t>(size, 1) + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  void* memory = std::aligned_alloc(kTensorAlignment, rounded);
  if (memory == nullptr) return invalid_argument(kBufferLabel, ": cannot allocate ", size, " bytes for its copy");
  std::memcpy(memory, data, size);
  return std::shared_ptr<const void>(memory, [](const void* p) { std::free(const_cast<void*>(p)); });
}

const std::vector<TensorDescription>* side(const kestrel_model_t* model, bool inputs) {
  return inputs ? &model->interface->inputs : &model->interface->outputs;
}

Status check_index(const kestrel_model_t* model, bool inputs, size_t index, const char* function) {
  KESTREL_RETURN_IF_ERROR(require(model, function, "model"));
  const size_t count = side(model, inputs)->size();
  if (index < count) return {};
  return invalid_argument(function, ": index ", index, " is out of range: the model has ", count,
                          inputs ? " input(s)" : " output(s)");
}

kestrel_status_t count(const kestrel_model_t* model, bool inputs, size_t* out, const char* function) {
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(require(model, function, "model"));
    KESTREL_RETURN_IF_ERROR(require(out, function, "count"));
    *out = side(model, inputs)->size();
    return {};
  });
}

kestrel_status_t info(const kestrel_model_t* model, bool inputs, size_t index, kestrel_tensor_info_t* out,
                      const char* function) {
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(check_index(model, inputs, index, function));
    KESTREL_RETURN_IF_ERROR(require(out, function, "info"));
    *out = (*side(model, inputs))[index].info;
    return {};
  });
}

kestrel_status_t quant(const kestrel_model_t* model, bool inputs, size_t index, kestrel_quant_info_t* out,
                       const char* function) {
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(check_index(model, inputs, index, function));
    KESTREL_RETURN_IF_ERROR(require(out, function, "quant"));
    *out = (*side(model, inputs))[index].quant;
    return {};
  });
}

kestrel_status_t find(const kestrel_model_t* model, bool inputs, const char* name, size_t* index,
                      const char* function) {
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(require(model, function, "model"));
    KESTREL_RETURN_IF_ERROR(require(name, function, "name"));
    KESTREL_RETURN_IF_ERROR(require(index, function, "index"));
    const auto& tensors = *side(model, inputs);
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (std::strcmp(tensors[i].info.name, name) == 0) {
        *index = i;
        return {};
      }
    }
    return not_found(function, ": the model has no ", inputs ? "input" : "output", " named '", name, "'");
  });
}

}  // namespace
}  // namespace kestrel::c_api

using kestrel::c_api::guarded;
using kestrel::c_api::require;

extern "C" {

kestrel_status_t kestrel_model_load(const char* path, kestrel_model_t** out) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(path, "kestrel_model_load", "path"));
    KESTREL_RETURN_IF_ERROR(require(out, "kestrel_model_load", "out"));
    KESTREL_ASSIGN_OR_RETURN(kestrel::ModelFile file, kestrel::load_model_file(path));
    KESTREL_ASSIGN_OR_RETURN(*out, kestrel::c_api::make_model(std::move(file), path));
    return {};
  });
}

kestrel_status_t kestrel_model_load_buffer(const void* data, size_t size, kestrel_model_t** out) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(data, "kestrel_model_load_buffer", "data"));
    KESTREL_RETURN_IF_ERROR(require(out, "kestrel_model_load_buffer", "out"));
    KESTREL_ASSIGN_OR_RETURN(auto owner, kestrel::c_api::aligned_copy(data, size));
    const void* copy = owner.get();
    KESTREL_ASSIGN_OR_RETURN(kestrel::ModelFile file,
                             kestrel::load_model_buffer(std::move(owner), copy, size, kestrel::c_api::kBufferLabel));
    KESTREL_ASSIGN_OR_RETURN(*out, kestrel::c_api::make_model(std::move(file), kestrel::c_api::kBufferLabel));
    return {};
  });
}

void kestrel_model_destroy(kestrel_model_t* model) { delete model; }

kestrel_status_t kestrel_model_input_count(const kestrel_model_t* model, size_t* count) {
  return kestrel::c_api::count(model, true, count, "kestrel_model_input_count");
}

kestrel_status_t kestrel_model_output_count(const kestrel_model_t* model, size_t* count) {
  return kestrel::c_api::count(model, false, count, "kestrel_model_output_count");
}

kestrel_status_t kestrel_model_input_info(const kestrel_model_t* model, size_t index, kestrel_tensor_info_t* info) {
  return kestrel::c_api::info(model, true, index, info, "kestrel_model_input_info");
}

kestrel_status_t kestrel_model_output_info(const kestrel_model_t* model, size_t index, kestrel_tensor_info_t* info) {
  return kestrel::c_api::info(model, false, index, info, "kestrel_model_output_info");
}

kestrel_status_t kestrel_model_find_input(const kestrel_model_t* model, const char* name, size_t* index) {
  return kestrel::c_api::find(model, true, name, index, "kestrel_model_find_input");
}

kestrel_status_t kestrel_model_find_output(const kestrel_model_t* model, const char* name, size_t* index) {
  return kestrel::c_api::find(model, false, name, index, "kestrel_model_find_output");
}

kestrel_status_t kestrel_model_input_quant(const kestrel_model_t* model, size_t index, kestrel_quant_info_t* quant) {
  return kestrel::c_api::quant(model, true, index, quant, "kestrel_model_input_quant");
}

kestrel_status_t kestrel_model_output_quant(const kestrel_model_t* model, size_t index, kestrel_quant_info_t* quant) {
  return kestrel::c_api::quant(model, false, index, quant, "kestrel_model_output_quant");
}

kestrel_status_t kestrel_model_metadata(const kestrel_model_t* model, const char* key, const char** value) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(model, "kestrel_model_metadata", "model"));
    KESTREL_RETURN_IF_ERROR(require(key, "kestrel_model_metadata", "key"));
    KESTREL_RETURN_IF_ERROR(require(value, "kestrel_model_metadata", "value"));
    std::string keys;
    for (const auto& [name, text] : model->metadata) {
      if (name == key) {
        *value = text.c_str();
        return {};
      }
      keys += (keys.empty() ? "" : ", ") + name;
    }
    return kestrel::not_found("kestrel_model_metadata: the model has no metadata key '", key, "' (it has: ", keys, ")");
  });
}

kestrel_status_t kestrel_model_max_batch(const kestrel_model_t* model, int64_t* max_batch) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(model, "kestrel_model_max_batch", "model"));
    KESTREL_RETURN_IF_ERROR(require(max_batch, "kestrel_model_max_batch", "max_batch"));
    *max_batch = model->interface->max_batch;
    return {};
  });
}

kestrel_status_t kestrel_model_metadata_count(const kestrel_model_t* model, size_t* count) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(model, "kestrel_model_metadata_count", "model"));
    KESTREL_RETURN_IF_ERROR(require(count, "kestrel_model_metadata_count", "count"));
    *count = model->metadata.size();
    return {};
  });
}

kestrel_status_t kestrel_model_metadata_entry(const kestrel_model_t* model, size_t index, const char** key,
                                              const char** value) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(model, "kestrel_model_metadata_entry", "model"));
    KESTREL_RETURN_IF_ERROR(require(key, "kestrel_model_metadata_entry", "key"));
    KESTREL_RETURN_IF_ERROR(require(value, "kestrel_model_metadata_entry", "value"));
    if (index >= model->metadata.size()) {
      return kestrel::invalid_argument("kestrel_model_metadata_entry: index ", index,
                                       " is out of range: the model has ", model->metadata.size(), " entries");
    }
    *key = model->metadata[index].first.c_str();
    *value = model->metadata[index].second.c_str();
    return {};
  });
}

}  // extern "C"
