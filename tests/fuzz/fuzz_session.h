// One run of a fuzzed model, shared by the targets that reach the runtime
// (ONNX import, .kestrel load): small models only, threads 1, no pinning,
// zeroed inputs, every output byte read, as `kestrel run` does.
#pragma once

#include <cstring>
#include <memory>
#include <utility>

#include "format/memory_plan.h"
#include "fuzz_util.h"
#include "ir/graph.h"
#include "runtime/session.h"

namespace kestrel::fuzz {

inline void run_session(Graph graph, const MemoryPlan& plan) {
  if (plan.arena_bytes > kMaxRunBytes) return;
  for (ValueId id : graph.inputs) {
    if (id < 0 || static_cast<size_t>(id) >= graph.values.size()) return;
    if (!small_shape(graph.value(id).shape)) return;
  }
  auto shared = std::make_shared<const Graph>(std::move(graph));
  auto session = Session::create(shared, plan, {.threads = 1, .pin_threads = false});
  if (!session.ok()) return;
  for (size_t i = 0; i < shared->inputs.size(); ++i) {
    Tensor& input = (*session)->input(i);
    if (!input.empty() && input.nbytes() > 0) std::memset(input.raw_data(), 0, input.nbytes());
  }
  if (!(*session)->run().ok()) return;
  for (size_t i = 0; i < shared->outputs.size(); ++i) touch_tensor((*session)->output(i));
}

}  // namespace kestrel::fuzz
