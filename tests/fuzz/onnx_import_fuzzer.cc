// libFuzzer target for the ONNX front end and the compiler behind it:
// bytes -> import_onnx_bytes (protobuf parse, ONNX checker, conversion to the
// IR) -> dynamic dims set to 1 -> compile_for_cpu (shape inference, passes,
// layouts, memory plan) -> for small models, a session and one run on zeroed
// inputs, which is what `kestrel run --model m.onnx` does.
//
// Seeds: models/*.onnx and the ONNX node tests' model.onnx files
// (scripts/fuzz.sh). External data resolves against an empty directory, so a
// fuzzed "location" can name no real file.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz_util.h"
#include "frontend/onnx/onnx_importer.h"
#include "passes/compile.h"
#include "passes/shape_inference.h"
#include "runtime/session.h"

namespace {

using namespace kestrel;

void run_once(CompiledGraph compiled) {
  if (compiled.plan.arena_bytes > fuzz::kMaxRunBytes) return;
  for (ValueId id : compiled.graph.inputs) {
    if (!fuzz::small_shape(compiled.graph.value(id).shape)) return;
  }
  auto graph = std::make_shared<const Graph>(std::move(compiled.graph));
  auto session = Session::create(graph, compiled.plan, {.threads = 1, .pin_threads = false});
  if (!session.ok()) return;
  for (size_t i = 0; i < graph->inputs.size(); ++i) {
    Tensor& input = (*session)->input(i);
    if (!input.empty() && input.nbytes() > 0) std::memset(input.raw_data(), 0, input.nbytes());
  }
  if (!(*session)->run().ok()) return;
  for (size_t i = 0; i < graph->outputs.size(); ++i) fuzz::touch_tensor((*session)->output(i));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string base_dir = (fuzz::scratch_dir() / "no_external_data").string();
  auto graph = import_onnx_bytes(bytes, base_dir, "fuzz.onnx");
  if (!graph.ok()) return 0;
  fuzz::touch_graph(*graph);
  set_dynamic_dims(*graph, 1);
  for (ValueId id : graph->inputs) {
    if (!fuzz::small_shape(graph->value(id).shape)) return 0;
  }
  auto compiled = compile_for_cpu(std::move(*graph));
  if (!compiled.ok()) return 0;
  fuzz::touch_graph(compiled->graph);
  run_once(std::move(*compiled));
  return 0;
}
