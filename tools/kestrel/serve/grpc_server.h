// The Open Inference Protocol's gRPC service (inference.GRPCInferenceService,
// grpc_predict_v2.proto) in front of the same model repository, batchers and
// metrics as the REST server, so requests of both batch together. gRPC++
// stays inside grpc_server.cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"
#include "serve/model_repository.h"

namespace kestrel::serve {

struct GrpcOptions {
  size_t max_request_bytes = size_t{64} << 20;       // larger messages: RESOURCE_EXHAUSTED
  std::chrono::milliseconds request_timeout{30000};  // queue + run: DEADLINE_EXCEEDED after it
};

class GrpcServer {
 public:
  GrpcServer(const ModelRepository& models, const GrpcOptions& options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Listens on `host`:`port` (0: a free port) and serves on gRPC's own
  // threads; returns the port bound.
  StatusOr<int> start(const std::string& host, int port);
  // Refuses new calls and waits for the ones in flight: up to `grace`, then
  // cancels what is left. From any thread; later calls wait for the first.
  void shutdown(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kestrel::serve
