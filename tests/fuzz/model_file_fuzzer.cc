// libFuzzer target for the .kestrel reader and the session behind it:
// bytes -> load_model_buffer (header, checksum, FlatBuffers verifier, decoder)
// -> every constant byte read -> IR verifier -> for small models a session
// (threads 1, no pinning) and one run on zeroed inputs, as `kestrel run` does.
// Built by scripts/fuzz.sh (cmake -DKESTREL_BUILD_FUZZERS=ON with clang),
// seeded with .kestrel files that build-fuzz/kestrel converts from
// models/*.onnx (docs/model_format.md).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "format/checksum.h"
#include "format/file_header.h"
#include "format/model_file.h"
#include "fuzz_util.h"
#include "runtime/session.h"

namespace {

using namespace kestrel;

void run_once(ModelFile model) {
  if (model.plan.arena_bytes > fuzz::kMaxRunBytes) return;
  for (ValueId id : model.graph.inputs) {
    if (id < 0 || static_cast<size_t>(id) >= model.graph.values.size()) return;
    if (!fuzz::small_shape(model.graph.value(id).shape)) return;
  }
  auto graph = std::make_shared<const Graph>(std::move(model.graph));
  auto session = Session::create(graph, model.plan, {.threads = 1, .pin_threads = false});
  if (!session.ok()) return;
  for (size_t i = 0; i < graph->inputs.size(); ++i) {
    Tensor& input = (*session)->input(i);
    if (!input.empty() && input.nbytes() > 0) std::memset(input.raw_data(), 0, input.nbytes());
  }
  if (!(*session)->run().ok()) return;
  for (size_t i = 0; i < graph->outputs.size(); ++i) fuzz::touch_tensor((*session)->output(i));
}

void load(const uint8_t* data, size_t size) {
  auto model = load_model_buffer(nullptr, data, size, "fuzz input");
  if (!model.ok()) return;
  fuzz::touch_graph(model->graph);
  if (!model->graph.verify().ok()) return;
  run_once(std::move(*model));
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
