// The KServe v2 REST endpoints over HTTP/1.1 (cpp-httplib), in front of a
// model repository. httplib stays inside http_server.cc.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/status.h"
#include "serve/metrics.h"
#include "serve/model_repository.h"

namespace kestrel::serve {

struct HttpOptions {
  size_t max_request_bytes = size_t{64} << 20;       // larger bodies: 413
  std::chrono::milliseconds request_timeout{30000};  // queue + run: 504 after it
  int http_threads = 64;                             // connections served at once
};

class HttpServer {
 public:
  HttpServer(ModelRepository& models, const MetricsRegistry& metrics, const HttpOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `host`:`port` (0: a free port); returns the port bound.
  StatusOr<int> bind(const std::string& host, int port);
  // Serves until stop(); returns once every connection's request is answered.
  Status serve();
  // Stops accepting; from any thread. Called before serve(), it waits for
  // serve() to start listening (so call serve()).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kestrel::serve
