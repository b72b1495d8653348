#include "serve/grpc_server.h"

#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <mutex>

#include "grpc_predict_v2.grpc.pb.h"
#include "serve/grpc_protocol.h"
#include "serve/inference.h"

#ifndef KESTREL_VERSION
#define KESTREL_VERSION "0.0.0"
#endif

namespace kestrel::serve {
namespace {

using grpc::ServerContext;
using grpc::StatusCode;

// A client deadline further off than this is no deadline (gRPC reports
// "none" as the far future).
constexpr auto kNoClientDeadline = std::chrono::hours(24 * 365);

// gRPC's own log: its errors on stderr under the server's prefix, except
// while binding, where a failure is start()'s one error line.
std::atomic<bool> quiet_grpc_log{false};

void grpc_log(gpr_log_func_args* args) {
  if (args->severity < GPR_LOG_SEVERITY_ERROR || quiet_grpc_log.load()) return;
  std::fprintf(stderr, "kestrel serve: grpc: %s\n", args->message);
}

grpc::Status infer_error_status(const InferOutcome& outcome) {
  switch (outcome.error) {
    case InferError::kNone: return grpc::Status::OK;
    case InferError::kQueueFull:
    case InferError::kShuttingDown: return {StatusCode::UNAVAILABLE, outcome.message};
    case InferError::kTimedOut: return {StatusCode::DEADLINE_EXCEEDED, outcome.message};
    case InferError::kRunFailed: return {StatusCode::INTERNAL, outcome.message};
  }
  return {StatusCode::INTERNAL, outcome.message};
}

// The client's deadline on the server's clock.
Clock::time_point client_deadline(const ServerContext& context) {
  const auto remaining = context.deadline() - std::chrono::system_clock::now();
  if (remaining > kNoClientDeadline) return Clock::time_point::max();
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(remaining);
}

void add_tensor_metadata(const ModelSignature& signature, const TensorSpec& spec,
                         inference::ModelMetadataResponse::TensorMetadata& metadata) {
  metadata.set_name(spec.name);
  metadata.set_datatype(datatype_name(spec.dtype));
  for (const int64_t dim : protocol_shape(signature, spec)) metadata.add_shape(dim);
}

// "host:port", IPv6 addresses in brackets.
std::string listen_address(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

class InferenceService final : public inference::GRPCInferenceService::Service {
 public:
  InferenceService(const ModelRepository& models, const GrpcOptions& options, const std::atomic<bool>& accepting)
      : models_(models), options_(options), accepting_(accepting) {}

  grpc::Status ServerLive(ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* response) override {
    response->set_ready(accepting_.load());
    return grpc::Status::OK;
  }

  grpc::Status ServerMetadata(ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override {
    response->set_name("kestrel");
    response->set_version(KESTREL_VERSION);
    return grpc::Status::OK;
  }

  grpc::Status ModelReady(ServerContext*, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override {
    if (!models_.find(request->name(), request->version())) return not_found(request->name(), request->version());
    response->set_ready(true);
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    const ModelHandle model = models_.find(request->name(), request->version());
    if (!model) return not_found(request->name(), request->version());
    response->set_name(model->name());
    for (const std::string& version : models_.versions(model->name())) response->add_versions(version);
    response->set_platform("kestrel");
    const ModelSignature& signature = model->signature();
    for (const TensorSpec& spec : signature.inputs) add_tensor_metadata(signature, spec, *response->add_inputs());
    for (const TensorSpec& spec : signature.outputs) add_tensor_metadata(signature, spec, *response->add_outputs());
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    const Clock::time_point start = Clock::now();
    const ModelHandle model = models_.find(request->model_name(), request->model_version());
    if (!model) return not_found(request->model_name(), request->model_version());
    StatusOr<ParsedInferRequest> parsed = parse_grpc_infer_request(*request, model->signature());
    if (!parsed.ok()) {
      model->metrics().record_failure();
      return {StatusCode::INVALID_ARGUMENT, parsed.status().message()};
    }
    const InferOutcome outcome = run_inference(
        *model, *parsed, {.start = start, .timeout = options_.request_timeout, .client = client_deadline(*context)});
    if (outcome.error != InferError::kNone) return infer_error_status(outcome);
    encode_grpc_infer_response(model->name(), model->version(), model->signature(), *parsed, outcome.request->outputs,
                               *response);
    record_answered(*model, *outcome.request, start);
    return grpc::Status::OK;
  }

 private:
  grpc::Status not_found(const std::string& name, const std::string& version) const {
    return {StatusCode::NOT_FOUND, unknown_model_message(models_, name, version)};
  }

  const ModelRepository& models_;
  const GrpcOptions options_;
  const std::atomic<bool>& accepting_;
};

}  // namespace

struct GrpcServer::Impl {
  std::atomic<bool> accepting{false};
  InferenceService service;
  GrpcOptions options;
  std::unique_ptr<grpc::Server> server;
  std::mutex shutdown_mutex;

  Impl(const ModelRepository& models, const GrpcOptions& grpc_options)
      : service(models, grpc_options, accepting), options(grpc_options) {}
};

GrpcServer::GrpcServer(const ModelRepository& models, const GrpcOptions& options)
    : impl_(std::make_unique<Impl>(models, options)) {}

GrpcServer::~GrpcServer() { shutdown(std::chrono::milliseconds(0)); }

StatusOr<int> GrpcServer::start(const std::string& host, int port) {
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(listen_address(host, port), grpc::InsecureServerCredentials(), &bound);
  // Over the limit, gRPC itself answers RESOURCE_EXHAUSTED.
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(impl_->options.max_request_bytes, INT_MAX)));
  builder.SetMaxSendMessageSize(-1);  // unlimited: an answer is as large as the model's outputs
  // gRPC sets SO_REUSEPORT by default: a second server on a taken port
  // would bind it too and get half the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&impl_->service);
  gpr_set_log_function(grpc_log);
  quiet_grpc_log.store(true);
  impl_->server = builder.BuildAndStart();
  quiet_grpc_log.store(false);
  if (!impl_->server || bound <= 0) {
    impl_->server.reset();
    return invalid_argument("cannot listen for gRPC on ", listen_address(host, port),
                            " (address in use or not local?)");
  }
  impl_->accepting.store(true);
  return bound;
}

void GrpcServer::shutdown(std::chrono::milliseconds grace) {
  const std::lock_guard<std::mutex> lock(impl_->shutdown_mutex);
  impl_->accepting.store(false);
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace kestrel::serve
