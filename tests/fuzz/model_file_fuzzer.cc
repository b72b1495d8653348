// libFuzzer target for the .kestrel reader and the session behind it:
// bytes -> load_model_buffer (header, checksum, FlatBuffers verifier, decoder)
// -> every constant byte read -> IR verifier -> for small models a session
// (threads 1, no pinning) and one run on zeroed inputs, as `kestrel run` does.
// Built by scripts/fuzz.sh (cmake -DKESTREL_BUILD_FUZZERS=ON with clang),
// seeded with .kestrel files that build-fuzz/kestrel converts from
// models/*.onnx (docs/model_format.md).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/checksum.h"
#include "format/file_header.h"
#include "format/model_file.h"
#include "fuzz_session.h"
#include "fuzz_util.h"

namespace {

using namespace kestrel;

void load(const uint8_t* data, size_t size) {
  auto model = load_model_buffer(nullptr, data, size, "fuzz input");
  if (!model.ok()) return;
  fuzz::touch_graph(model->graph);
  if (!model->graph.verify().ok()) return;
  fuzz::run_session(std::move(model->graph), model->plan);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load(data, size);
  // Almost every mutation breaks the checksum; a resealed copy lets the
  // fuzzer explore the FlatBuffers verifier and the decoder behind it.
  if (size >= kHeaderSize) {
    std::vector<uint8_t> resealed(data, data + size);
    const uint64_t checksum = model_checksum(resealed.data() + kHeaderSize, size - kHeaderSize);
    for (size_t i = 0; i < sizeof(checksum); ++i) {
      resealed[kChecksumOffset + i] = static_cast<uint8_t>(checksum >> (8 * i));
    }
    load(resealed.data(), resealed.size());
  }
  return 0;
}
