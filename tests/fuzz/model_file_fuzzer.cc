// libFuzzer target for the .kestrel reader. Build with
//   cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DKESTREL_BUILD_FUZZERS=ON
//   cmake --build build-fuzz --target model_file_fuzzer
// and seed it with any .kestrel file (docs/model_format.md).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "format/checksum.h"
#include "format/file_header.h"
#include "format/model_file.h"

namespace {

// Touches every byte the loaded model claims to own, so AddressSanitizer
// catches a view that points outside the input.
void consume(const kestrel::ModelFile& model) {
  volatile uint8_t sink = 0;
  for (const kestrel::Value& value : model.graph.values) {
    if (!value.constant) continue;
    const auto* data = static_cast<const uint8_t*>(value.constant->raw_data());
    for (size_t i = 0; i < value.constant->nbytes(); ++i) sink = sink ^ data[i];
  }
  (void)model.graph.verify();
}

void load(const uint8_t* data, size_t size) {
  auto model = kestrel::load_model_buffer(nullptr, data, size, "fuzz input");
  if (model.ok()) consume(*model);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load(data, size);
  // Almost every mutation breaks the checksum; a resealed copy lets the
  // fuzzer explore the FlatBuffers verifier and the decoder behind it.
  if (size >= kestrel::kHeaderSize) {
    std::vector<uint8_t> resealed(data, data + size);
    const uint64_t checksum = kestrel::model_checksum(resealed.data() + kestrel::kHeaderSize, size - kestrel::kHeaderSize);
    for (size_t i = 0; i < sizeof(checksum); ++i) {
      resealed[kestrel::kChecksumOffset + i] = static_cast<uint8_t>(checksum >> (8 * i));
    }
    load(resealed.data(), resealed.size());
  }
  return 0;
}
