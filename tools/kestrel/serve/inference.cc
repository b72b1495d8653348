#include "serve/inference.h"

#include <algorithm>
#include <utility>

namespace kestrel::serve {
namespace {

// A request whose tensors fit the model, with its outputs sized (the
// workers allocate nothing).
std::shared_ptr<InferRequest> make_request(const ServedModel& model, ParsedInferRequest& parsed,
                                           Clock::time_point deadline) {
  auto request = std::make_shared<InferRequest>();
  request->rows = parsed.rows;
  request->inputs = std::move(parsed.inputs);
  request->deadline = deadline;
  const ModelSignature& signature = model.signature();
  const size_t rows = signature.max_batch > 0 ? static_cast<size_t>(parsed.rows) : 1;
  for (const TensorSpec& spec : signature.outputs) request->outputs.emplace_back(spec.row_bytes * rows);
  return request;
}

InferOutcome failed(const ServedModel& model, InferError error, std::string message) {
  model.metrics().record_failure();
  return {error, std::move(message), nullptr};
}

std::string timeout_message(const InferDeadline& deadline) {
  if (deadline.client < deadline.start + deadline.timeout) return "the client's deadline passed before the answer";
  return "request timed out after " + std::to_string(deadline.timeout.count()) + " ms (--request-timeout-ms)";
}

}  // namespace

std::string model_label(const std::string& name, const std::string& version) {
  return "model '" + name + "'" + (version.empty() ? "" : " version " + version);
}

std::string unknown_model_message(const ModelRepository& models, const std::string& name, const std::string& version) {
  const bool known = !models.versions(name).empty();
  return (known ? "unknown version of " : "unknown ") + model_label(name, version);
}

InferOutcome run_inference(const ServedModel& model, ParsedInferRequest& parsed, const InferDeadline& deadline) {
  const Clock::time_point until = std::min(deadline.start + deadline.timeout, deadline.client);
  std::shared_ptr<InferRequest> request = make_request(model, parsed, until);
  switch (model.batcher().submit(request)) {
    case Batcher::Admission::kQueued: break;
    case Batcher::Admission::kQueueFull:
      return failed(model, InferError::kQueueFull,
                    model_label(model.name(), model.version()) + ": queue full (" +
                        std::to_string(model.batcher().options().max_queue) + " pending requests)");
    case Batcher::Admission::kStopped: return failed(model, InferError::kShuttingDown, "the server is shutting down");
  }
  if (!request->wait_until(request->deadline) || request->expired.load()) {
    request->cancelled.store(true);
    return failed(model, InferError::kTimedOut, timeout_message(deadline));
  }
  if (!request->status().ok()) return failed(model, InferError::kRunFailed, request->status().message());
  return {InferError::kNone, {}, std::move(request)};
}

void record_answered(const ServedModel& model, const InferRequest& request, Clock::time_point start) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  model.metrics().record_success(request.rows, elapsed, request.queue_time, request.compute_time);
}

}  // namespace kestrel::serve
