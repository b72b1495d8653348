// What the C API's handles are, and the one place where library Status and
// C++ exceptions become a kestrel_status_t plus the thread's last-error text.
#pragma once

#include <atomic>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "format/memory_plan.h"
#include "ir/graph.h"
#include "kestrel/kestrel.h"
#include "runtime/session.h"

namespace kestrel::c_api {

// One graph input or output as the C API describes it; the pointers in
// `info` and `quant` point into the graph and `zero_points`.
struct TensorDescription {
  kestrel_tensor_info_t info{};
  kestrel_quant_info_t quant{};
  std::vector<int64_t> zero_points;  // one per scale (the IR leaves them empty for symmetric)
};

// What a model and all of its sessions share; immutable once built.
struct ModelInterface {
  std::shared_ptr<const Graph> graph;  // its constants keep the weights' memory alive
  std::vector<TensorDescription> inputs, outputs;
  // A variable-batch model (convert --max-batch N): N, and the graph at each
  // batch 1..N-1 (batch_graphs[b - 1]); 0 and none for a fixed-shape model.
  int64_t max_batch = 0;
  std::vector<std::shared_ptr<const Graph>> batch_graphs;
};

// Records a failure as this thread's last error and returns its C code.
kestrel_status_t report(const Status& status) noexcept;
// The same for exceptions; neither allocates when memory has run out.
kestrel_status_t report_out_of_memory() noexcept;
kestrel_status_t report_exception(const char* what) noexcept;

// Runs `body` (returning a Status) so that nothing escapes to C: a failed
// Status and any exception become a code and the thread's last error.
template <typename Body>
kestrel_status_t guarded(Body&& body) noexcept {
  try {
    const Status status = body();
    return status.ok() ? KESTREL_OK : report(status);
  } catch (const std::bad_alloc&) {
    return report_out_of_memory();
  } catch (const std::exception& error) {
    return report_exception(error.what());
  } catch (...) {
    return report_exception("a non-standard exception");
  }
}

// A NULL pointer argument is misuse; the message names the function and the argument.
inline Status require(const void* pointer, const char* function, const char* argument) {
  if (pointer != nullptr) return {};
  return invalid_argument(function, ": ", argument, " is NULL");
}

}  // namespace kestrel::c_api

struct kestrel_model {
  std::shared_ptr<const kestrel::c_api::ModelInterface> interface;
  kestrel::MemoryPlan plan;
  std::vector<std::pair<std::string, std::string>> metadata;
  // The path (or "model buffer"): starts the errors of sessions created from
  // it, since a session is where a tampered graph is found out.
  std::string label;
};

struct kestrel_session_options {
  kestrel::SessionOptions options{.pin_threads = false};
};

struct kestrel_session {
  std::shared_ptr<const kestrel::c_api::ModelInterface> interface;
  std::unique_ptr<kestrel::Session> session;  // at the compiled (largest) batch
  // A variable-batch model's sessions at batch 1..N-1 (smaller[b - 1]),
  // sharing `session`'s arena and buffers.
  std::vector<std::unique_ptr<kestrel::Session>> smaller;
  // Per run: which given tensor binds each model input / output (-1: none).
  // Sized at creation so that run() allocates nothing.
  std::vector<int64_t> input_binding, output_binding;
  // Set while a run is in progress, to refuse a concurrent second run.
  std::atomic<bool> running{false};
};
