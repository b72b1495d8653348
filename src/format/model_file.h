// The .kestrel offline model file: a graph ready to run, with its weights laid
// out so that loading is an mmap plus validation, never a copy
// (docs/model_format.md). The reader is part of the runtime and needs neither
// protobuf nor ONNX.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "format/memory_plan.h"
#include "ir/graph.h"
#include "ir/quant_params.h"

namespace kestrel {

struct ModelFile {
  Graph graph;
  MemoryPlan plan;
  // The ISA the weights were packed for and the CpuFeature bits it needs.
  std::string isa = "generic";
  uint64_t required_features = 0;
  std::vector<std::pair<std::string, std::string>> metadata;
};

// Serializes `model` into the bytes of a .kestrel file. Checks the graph and
// re-reads the result, so it never produces a file the reader refuses (the
// CPU check excepted: a model may be packed for another machine).
StatusOr<std::vector<uint8_t>> serialize_model(const ModelFile& model);

// Writes atomically: a temporary file beside `path`, renamed when complete.
Status write_model_file(const std::string& path, const ModelFile& model);

// Maps the file read-only and validates it; constants are views into the
// mapping, which stays alive as long as any of them does.
StatusOr<ModelFile> load_model_file(const std::string& path);

// Loads from memory kept alive by `owner`. `label` names the model in errors.
// Data that is not 64-byte aligned is copied once into an aligned buffer.
StatusOr<ModelFile> load_model_buffer(std::shared_ptr<const void> owner, const void* data, size_t size,
                                      const std::string& label);

// producer, Kestrel version, creation time (UTC, ISO 8601) and `source_model`.
std::vector<std::pair<std::string, std::string>> standard_metadata(const std::string& source_model);

}  // namespace kestrel
