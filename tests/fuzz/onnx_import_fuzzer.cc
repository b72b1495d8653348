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
#include <string>

#include "frontend/onnx/onnx_importer.h"
#include "fuzz_session.h"
#include "fuzz_util.h"
#include "passes/compile.h"
#include "passes/shape_inference.h"

using namespace kestrel;

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
  fuzz::run_session(std::move(compiled->graph), compiled->plan);
  return 0;
}
