// Internal to src/format: turning verified FlatBuffer tables into a
// ModelFile. The FlatBuffers verifier only guarantees that the tables are
// well-formed; everything they mean (indices, dtypes, blob ranges, sizes) is
// checked here before anything else trusts it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "format/kestrel_model_generated.h"
#include "format/model_file.h"

namespace kestrel {

struct WeightsSection {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  std::shared_ptr<const void> owner;  // keeps `data` alive for wrapped tensors
};

StatusOr<ModelFile> decode_model(const fb::Model& model, const WeightsSection& weights, const std::string& label);

// Header, checksum, FlatBuffers verification, CPU check and decoding of the
// bytes of a whole file. `data` must be 64-byte aligned.
StatusOr<ModelFile> parse_model_file_bytes(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                           const std::string& label, bool check_cpu);

// Bytes of a dense tensor; nullopt for unsized dtypes, negative dims or overflow.
std::optional<uint64_t> dense_tensor_bytes(DType dtype, const Shape& shape);

}  // namespace kestrel
