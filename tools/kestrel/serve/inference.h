// One inference on a served model, as every endpoint (REST, gRPC) runs it:
// the request queued on the model's batcher, waited for until its deadline,
// and how it ended, with the model's metrics updated. The endpoints only
// translate their wire format and map the outcome to their status codes.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "serve/batcher.h"
#include "serve/model_repository.h"
#include "serve/protocol.h"

namespace kestrel::serve {

// "model 'cnn'" or "model 'cnn' version 2".
std::string model_label(const std::string& name, const std::string& version);
// Why ModelRepository::find found nothing: an unknown model, or an unknown
// version of a known one.
std::string unknown_model_message(const ModelRepository& models, const std::string& name, const std::string& version);

enum class InferError {
  kNone,
  kQueueFull,     // the model's queue holds --max-queue requests
  kShuttingDown,  // the batcher refuses new requests
  kTimedOut,      // past --request-timeout-ms or the client's own deadline
  kRunFailed,     // the model run failed (a bug)
};

struct InferOutcome {
  InferError error = InferError::kNone;
  std::string message;                    // when error != kNone
  std::shared_ptr<InferRequest> request;  // its outputs filled when error == kNone
};

struct InferDeadline {
  Clock::time_point start;                              // when the request arrived
  std::chrono::milliseconds timeout;                    // --request-timeout-ms
  Clock::time_point client = Clock::time_point::max();  // the client's own deadline, if it set one
};

// Queues `parsed` (its inputs moved out) and waits for its outputs. A
// failure is counted in the model's metrics here; a success is counted by
// record_answered once the endpoint has encoded the answer.
InferOutcome run_inference(const ServedModel& model, ParsedInferRequest& parsed, const InferDeadline& deadline);
void record_answered(const ServedModel& model, const InferRequest& request, Clock::time_point start);

}  // namespace kestrel::serve
