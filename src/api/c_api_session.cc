// C API: session options, sessions, and running them on caller-owned or
// session-owned buffers. Every tensor a caller passes is checked before
// anything is copied or run.
#include <algorithm>

#include "api/c_api_internal.h"

#include <cstring>

namespace kestrel::c_api {
namespace {

constexpr const char* kRun = "kestrel_session_run";
constexpr int64_t kUnbound = -1;

std::string dims_string(const int64_t* dims, size_t rank) {
  return rank == 0 ? shape_string({}) : shape_string(Shape(dims, dims + rank));
}

std::string dtype_label(kestrel_dtype_t dtype) { return kestrel_dtype_name(dtype); }

std::string names_of(const std::vector<TensorDescription>& tensors) {
  std::string names;
  for (const TensorDescription& tensor : tensors) {
    names += names.empty() ? "'" : ", '";
    names += tensor.info.name;
    names += "'";
  }
  return names;
}

// The caller's dtype read as the integer it holds: a value outside the enum
// (a caller's bug) must be reported, and loading it as the enum type would
// be undefined behaviour.
int raw_dtype(const kestrel_tensor_t& tensor) {
  static_assert(sizeof(tensor.dtype) == sizeof(int));
  int raw = 0;
  std::memcpy(&raw, &tensor.dtype, sizeof(raw));
  return raw;
}

// The batch a tensor of a variable-batch model is given at: its dim 0, when
// that is 1..max_batch and the other dims are the compiled ones; 0 otherwise.
int64_t given_batch(const kestrel_tensor_t& given, const kestrel_tensor_info_t& declared, int64_t max_batch) {
  if (max_batch == 0 || given.rank != declared.rank || given.rank == 0) return 0;
  if (given.dims[0] < 1 || given.dims[0] > max_batch) return 0;
  return std::equal(given.dims + 1, given.dims + given.rank, declared.dims + 1) ? given.dims[0] : 0;
}

// `batch`: 0 until the first tensor fixes it; every tensor must then agree.
Status check_tensor(const kestrel_tensor_t& given, const kestrel_tensor_info_t& declared, const char* role,
                    int64_t max_batch, int64_t& batch) {
  const int given_dtype = raw_dtype(given);
  if (given_dtype != static_cast<int>(declared.dtype)) {
    const std::string label = given_dtype >= 0 && given_dtype <= static_cast<int>(KESTREL_DTYPE_UINT64)
                                  ? dtype_label(static_cast<kestrel_dtype_t>(given_dtype))
                                  : "dtype " + std::to_string(given_dtype);
    return invalid_argument(kRun, ": ", role, " '", declared.name, "' is given as ", label, ", the model takes ",
                            dtype_label(declared.dtype));
  }
  if (given.rank > 0 && given.dims == nullptr) {
    return invalid_argument(kRun, ": ", role, " '", declared.name, "': dims is NULL with rank ", given.rank);
  }
  size_t bytes = declared.bytes;
  if (max_batch > 0) {
    const int64_t b = given_batch(given, declared, max_batch);
    if (b == 0) {
      return invalid_argument(kRun, ": ", role, " '", declared.name, "' is given with dims ",
                              dims_string(given.dims, given.rank), ", the model takes ",
                              dims_string(declared.dims + 1, declared.rank - 1), " items in batches of 1 to ",
                              max_batch);
    }
    if (batch != 0 && b != batch) {
      return invalid_argument(kRun, ": ", role, " '", declared.name, "' is given at batch ", b,
                              ", the tensors before it at batch ", batch, " (all must have the same batch)");
    }
    batch = b;
    bytes = declared.bytes / static_cast<size_t>(max_batch) * static_cast<size_t>(b);
  } else if (given.rank != declared.rank || !std::equal(given.dims, given.dims + given.rank, declared.dims)) {
    return invalid_argument(kRun, ": ", role, " '", declared.name, "' is given with dims ",
                            dims_string(given.dims, given.rank), ", the model was compiled for ",
                            dims_string(declared.dims, declared.rank), " (convert again to change it)");
  }
  if (given.bytes != bytes) {
    return invalid_argument(kRun, ": ", role, " '", declared.name, "' is given ", given.bytes, " bytes, ",
                            dims_string(given.dims, given.rank), " ", dtype_label(declared.dtype), " takes ", bytes);
  }
  if (given.data == nullptr && bytes > 0) {
    return invalid_argument(kRun, ": ", role, " '", declared.name, "': data is NULL");
  }
  return {};
}

// Which declared tensor `given` names: by name, or by position when unnamed.
Status resolve(const kestrel_tensor_t& given, size_t position, const std::vector<TensorDescription>& declared,
               const char* role, size_t& index) {
  if (given.name == nullptr) {
    if (position < declared.size()) {
      index = position;
      return {};
    }
    return invalid_argument(kRun, ": ", role, " tensor ", position, " has no name and the model has only ",
                            declared.size(), " ", role, "(s)");
  }
  for (size_t i = 0; i < declared.size(); ++i) {
    if (std::strcmp(declared[i].info.name, given.name) == 0) {
      index = i;
      return {};
    }
  }
  return not_found(kRun, ": the model has no ", role, " named '", given.name, "' (its ", role,
                   "s: ", names_of(declared), ")");
}

// Fills binding[declared index] = position in `given`, checking every tensor.
Status bind(const kestrel_tensor_t* given, size_t count, const std::vector<TensorDescription>& declared,
            const char* role, std::vector<int64_t>& binding, int64_t max_batch, int64_t& batch) {
  std::fill(binding.begin(), binding.end(), kUnbound);
  for (size_t position = 0; position < count; ++position) {
    size_t index = 0;
    KESTREL_RETURN_IF_ERROR(resolve(given[position], position, declared, role, index));
    if (binding[index] != kUnbound) {
      return invalid_argument(kRun, ": ", role, " '", declared[index].info.name, "' is given twice (tensors ",
                              binding[index], " and ", position, ")");
    }
    binding[index] = static_cast<int64_t>(position);
    KESTREL_RETURN_IF_ERROR(check_tensor(given[position], declared[index].info, role, max_batch, batch));
  }
  return {};
}

// The batch of the run, which `batch` receives: dim 0 of the tensors for a
// variable-batch model, the compiled batch otherwise.
Status bind_all(kestrel_session_t& session, const kestrel_tensor_t* inputs, size_t n_inputs,
                const kestrel_tensor_t* outputs, size_t n_outputs, int64_t& batch) {
  if (n_inputs > 0) KESTREL_RETURN_IF_ERROR(require(inputs, kRun, "inputs"));
  if (n_outputs > 0) KESTREL_RETURN_IF_ERROR(require(outputs, kRun, "outputs"));
  const ModelInterface& interface = *session.interface;
  batch = 0;
  KESTREL_RETURN_IF_ERROR(
      bind(inputs, n_inputs, interface.inputs, "input", session.input_binding, interface.max_batch, batch));
  for (size_t i = 0; i < interface.inputs.size(); ++i) {
    if (session.input_binding[i] == kUnbound) {
      return invalid_argument(kRun, ": input '", interface.inputs[i].info.name, "' is not given (the model takes ",
                              names_of(interface.inputs), "; ", n_inputs, " tensor(s) were given)");
    }
  }
  KESTREL_RETURN_IF_ERROR(
      bind(outputs, n_outputs, interface.outputs, "output", session.output_binding, interface.max_batch, batch));
  if (interface.max_batch == 0) batch = 0;
  return {};
}

// The session that runs `batch` (0: the compiled one).
Session& runner_for(kestrel_session_t& session, int64_t batch) {
  if (batch > 0 && batch < session.interface->max_batch) return *session.smaller[static_cast<size_t>(batch - 1)];
  return *session.session;
}

// Refuses a second run of one session while the first is in progress.
class RunGuard {
 public:
  explicit RunGuard(kestrel_session_t& session) : session_(session) {
    acquired_ = !session_.running.exchange(true, std::memory_order_acquire);
  }
  ~RunGuard() {
    if (acquired_) session_.running.store(false, std::memory_order_release);
  }
  Status status() const {
    if (acquired_) return {};
    return invalid_argument(kRun,
                            ": the session is already running on another thread (a session runs on one "
                            "thread at a time; create one session per thread)");
  }

 private:
  kestrel_session_t& session_;
  bool acquired_ = false;
};

Status run_bound(kestrel_session_t& session, const kestrel_tensor_t* inputs, kestrel_tensor_t* outputs, int64_t batch) {
  Session& runner = runner_for(session, batch);
  for (size_t i = 0; i < session.input_binding.size(); ++i) {
    const kestrel_tensor_t& given = inputs[session.input_binding[i]];
    void* own = runner.input(i).raw_data();
    if (given.data != own && given.bytes > 0) std::memcpy(own, given.data, given.bytes);
  }
  KESTREL_RETURN_IF_ERROR(runner.run());
  for (size_t i = 0; i < session.output_binding.size(); ++i) {
    if (session.output_binding[i] == kUnbound) continue;
    kestrel_tensor_t& wanted = outputs[session.output_binding[i]];
    const void* own = runner.output(i).raw_data();
    if (wanted.data != own && wanted.bytes > 0) std::memcpy(wanted.data, own, wanted.bytes);
  }
  return {};
}

Status check_session_index(const kestrel_session_t* session, size_t index, bool input, const char* function) {
  KESTREL_RETURN_IF_ERROR(require(session, function, "session"));
  const size_t count = input ? session->interface->inputs.size() : session->interface->outputs.size();
  if (index < count) return {};
  return invalid_argument(function, ": index ", index, " is out of range: the model has ", count,
                          input ? " input(s)" : " output(s)");
}

}  // namespace
}  // namespace kestrel::c_api

using kestrel::c_api::guarded;
using kestrel::c_api::require;

extern "C" {

kestrel_status_t kestrel_session_options_create(kestrel_session_options_t** out) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(out, "kestrel_session_options_create", "out"));
    *out = new kestrel_session_options();
    return {};
  });
}

void kestrel_session_options_destroy(kestrel_session_options_t* options) { delete options; }

kestrel_status_t kestrel_session_options_set_threads(kestrel_session_options_t* options, int threads) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(options, "kestrel_session_options_set_threads", "options"));
    if (threads < 0 || threads > kestrel::kMaxSessionThreads) {
      return kestrel::invalid_argument(
          "kestrel_session_options_set_threads: threads must be 0 (the OpenMP "
          "default) to ",
          kestrel::kMaxSessionThreads, ", got ", threads);
    }
    options->options.threads = threads;
    return {};
  });
}

kestrel_status_t kestrel_session_options_set_pin_threads(kestrel_session_options_t* options, int pin_threads) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(options, "kestrel_session_options_set_pin_threads", "options"));
    options->options.pin_threads = pin_threads != 0;
    return {};
  });
}

kestrel_status_t kestrel_session_options_set_max_arena_bytes(kestrel_session_options_t* options,
                                                             int64_t max_arena_bytes) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(options, "kestrel_session_options_set_max_arena_bytes", "options"));
    if (max_arena_bytes < 0) {
      return kestrel::invalid_argument(
          "kestrel_session_options_set_max_arena_bytes: must be 0 (the default limit) or a byte count, got ",
          max_arena_bytes);
    }
    options->options.max_arena_bytes = max_arena_bytes;
    return {};
  });
}

kestrel_status_t kestrel_session_create(const kestrel_model_t* model, const kestrel_session_options_t* options,
                                        kestrel_session_t** out) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(model, "kestrel_session_create", "model"));
    KESTREL_RETURN_IF_ERROR(require(out, "kestrel_session_create", "out"));
    const kestrel::SessionOptions defaults = kestrel_session_options().options;
    auto created =
        kestrel::Session::create(model->interface->graph, model->plan, options ? options->options : defaults);
    if (!created.ok()) return created.status().with_context(model->label);
    auto session = std::move(created).value();
    auto handle = std::make_unique<kestrel_session>();
    handle->interface = model->interface;
    for (const auto& graph : model->interface->batch_graphs) {
      auto smaller = kestrel::Session::create_sharing(*session, graph, model->plan);
      if (!smaller.ok()) return smaller.status().with_context(model->label);
      handle->smaller.push_back(std::move(smaller).value());
    }
    handle->session = std::move(session);
    handle->input_binding.resize(handle->interface->inputs.size());
    handle->output_binding.resize(handle->interface->outputs.size());
    *out = handle.release();
    return {};
  });
}

void kestrel_session_destroy(kestrel_session_t* session) { delete session; }

kestrel_status_t kestrel_session_run(kestrel_session_t* session, const kestrel_tensor_t* inputs, size_t n_inputs,
                                     kestrel_tensor_t* outputs, size_t n_outputs) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(session, kestrel::c_api::kRun, "session"));
    kestrel::c_api::RunGuard guard(*session);
    KESTREL_RETURN_IF_ERROR(guard.status());
    int64_t batch = 0;
    KESTREL_RETURN_IF_ERROR(kestrel::c_api::bind_all(*session, inputs, n_inputs, outputs, n_outputs, batch));
    return kestrel::c_api::run_bound(*session, inputs, outputs, batch);
  });
}

kestrel_status_t kestrel_session_run_simple(kestrel_session_t* session) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(session, "kestrel_session_run_simple", "session"));
    kestrel::c_api::RunGuard guard(*session);
    KESTREL_RETURN_IF_ERROR(guard.status());
    return session->session->run();
  });
}

kestrel_status_t kestrel_session_run_batch(kestrel_session_t* session, int64_t batch) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(require(session, "kestrel_session_run_batch", "session"));
    const int64_t max_batch = session->interface->max_batch;
    if (max_batch == 0) {
      const kestrel::Graph& graph = *session->interface->graph;
      const int64_t compiled = graph.inputs.empty() || graph.value(graph.inputs[0]).shape.empty()
                                   ? 1
                                   : graph.value(graph.inputs[0]).shape[0];
      if (batch != compiled) {
        return kestrel::invalid_argument("kestrel_session_run_batch: batch ", batch,
                                         ": the model is compiled for batch ", compiled,
                                         " only (convert with --max-batch for others)");
      }
    } else if (batch < 1 || batch > max_batch) {
      return kestrel::invalid_argument("kestrel_session_run_batch: batch ", batch, " is outside 1..", max_batch);
    }
    kestrel::c_api::RunGuard guard(*session);
    KESTREL_RETURN_IF_ERROR(guard.status());
    return kestrel::c_api::runner_for(*session, max_batch == 0 ? 0 : batch).run();
  });
}

kestrel_status_t kestrel_session_input_buffer(kestrel_session_t* session, size_t index, void** data, size_t* bytes) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(kestrel::c_api::check_session_index(session, index, true, "kestrel_session_input_buffer"));
    KESTREL_RETURN_IF_ERROR(require(data, "kestrel_session_input_buffer", "data"));
    KESTREL_RETURN_IF_ERROR(require(bytes, "kestrel_session_input_buffer", "bytes"));
    kestrel::Tensor& buffer = session->session->input(index);
    *data = buffer.raw_data();
    *bytes = buffer.nbytes();
    return {};
  });
}

kestrel_status_t kestrel_session_output_buffer(const kestrel_session_t* session, size_t index, const void** data,
                                               size_t* bytes) {
  return guarded([&]() -> kestrel::Status {
    KESTREL_RETURN_IF_ERROR(
        kestrel::c_api::check_session_index(session, index, false, "kestrel_session_output_buffer"));
    KESTREL_RETURN_IF_ERROR(require(data, "kestrel_session_output_buffer", "data"));
    KESTREL_RETURN_IF_ERROR(require(bytes, "kestrel_session_output_buffer", "bytes"));
    const kestrel::Tensor& buffer = session->session->output(index);
    *data = buffer.raw_data();
    *bytes = buffer.nbytes();
    return {};
  });
}

}  // extern "C"
