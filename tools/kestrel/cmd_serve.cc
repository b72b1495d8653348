// kestrel serve: a KServe v2 / Open Inference Protocol server (REST, and
// gRPC with --grpc-port) for .kestrel models, with a session pool and dynamic batching per model
// (docs/serving.md).
#include <malloc.h>
#include <pthread.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "commands.h"
#include "serve/grpc_server.h"
#include "serve/http_server.h"
#include "serve/model_repository.h"

namespace kestrel::cli {
namespace {

constexpr int kGrpcDisabled = -1;

struct ServeOptions {
  std::string repository, model, name;
  std::string host = "127.0.0.1";
  int port = 8000;
  int grpc_port = kGrpcDisabled;
  int sessions = 0, threads = 0;  // 0: from the core count
  int64_t max_batch = 0;          // 0: the model's max batch
  bool no_batching = false;
  int64_t max_queue_delay_us = 500;
  int64_t max_queue = 256;
  int64_t max_request_bytes = int64_t{64} << 20;
  int64_t request_timeout_ms = 30000;
  int http_threads = 64;
  double repository_poll_secs = 0;  // 0: no polling
};

// Polls the repository every `period` on a thread of its own until stopped.
class RepositoryPoller {
 public:
  RepositoryPoller(serve::ModelRepository& repository, std::chrono::milliseconds period)
      : thread_([this, &repository, period] {
          std::unique_lock lock(mutex_);
          while (!stop_cv_.wait_for(lock, period, [this] { return stopping_; })) {
            lock.unlock();
            repository.poll(std::cerr);
            lock.lock();
          }
        }) {}
  ~RepositoryPoller() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    thread_.join();
  }
  RepositoryPoller(const RepositoryPoller&) = delete;
  RepositoryPoller& operator=(const RepositoryPoller&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is made
};

// Sessions x threads per session: all cores by default, one thread each
// when there are several sessions.
void resolve_parallelism(ServeOptions& options) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (options.sessions == 0 && options.threads == 0) {
    options.sessions = cores;
    options.threads = 1;
  } else if (options.sessions == 0) {
    options.sessions = std::max(1, cores / options.threads);
  } else if (options.threads == 0) {
    options.threads = options.sessions > 1 ? 1 : cores;
  }
}

StatusOr<std::vector<serve::ModelLocation>> model_locations(const ServeOptions& options) {
  if (!options.repository.empty()) return serve::scan_model_repository(options.repository);
  if (options.model.empty()) return invalid_argument("give --model-repository DIR or --model FILE.kestrel");
  const std::string name = options.name.empty() ? std::filesystem::path(options.model).stem().string() : options.name;
  if (name.empty() || name.find('/') != std::string::npos) {
    return invalid_argument("model name '", name, "' must be non-empty and hold no '/'");
  }
  return std::vector<serve::ModelLocation>{{name, "1", options.model}};
}

void print_models(const serve::ModelRepository& repository, const ServeOptions& options) {
  for (const serve::ModelHandle& model : repository.models()) {
    std::cerr << "kestrel serve: model '" << model->name() << "' version " << model->version() << " (" << model->path()
              << "): " << options.sessions << " session(s) x " << options.threads << " thread(s), batches of up to "
              << model->batch_rows() << " row(s)";
    if (model->signature().max_batch <= 0 && options.max_batch > 1) {
      std::cerr << " (compiled at a fixed batch: each request runs alone)";
    }
    std::cerr << "\n";
  }
}

// Serves until SIGTERM or SIGINT. Both are blocked in every thread (the
// mask is inherited) and taken by one watcher thread with sigtimedwait, so
// no code runs inside a signal handler. The gRPC server (when there is one)
// already serves on its own threads; it stops with the HTTP one, each
// finishing the calls it has received.
Status serve_until_signalled(serve::HttpServer& server, serve::GrpcServer* grpc, const ServeOptions& options, int port,
                             int grpc_port) {
  // In-flight calls finish within their request timeout; then gRPC cancels them.
  const auto grpc_grace = std::chrono::milliseconds(options.request_timeout_ms) + std::chrono::seconds(1);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    const timespec tick{0, 100'000'000};
    while (!finished.load()) {
      if (sigtimedwait(&signals, nullptr, &tick) > 0) {
        std::cerr << "kestrel serve: shutting down: finishing the requests in flight\n";
        server.stop();
        if (grpc) grpc->shutdown(grpc_grace);
        return;
      }
    }
  });
  std::printf("kestrel serve: listening on http://%s:%d\n", options.host.c_str(), port);
  if (grpc) std::printf("kestrel serve: grpc listening on %s:%d\n", options.host.c_str(), grpc_port);
  std::fflush(stdout);
  Status served = server.serve();
  finished.store(true);
  watcher.join();
  if (grpc) grpc->shutdown(grpc_grace);  // the HTTP server stopped: gRPC too (waits if the watcher began it)
  return served;
}

Status serve_models(ServeOptions options) {
  // Before any thread starts (session pools, OpenMP, HTTP), so all inherit it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is not the server's end
  // Request and response bodies (600 KB for a 224x224 float image) are
  // allocated and freed on many connection threads, and glibc gives each
  // thread an arena of its own: the server's memory crept up by 12 MB per
  // 10,000 ResNet-50 requests at 32 connections. Two arenas keep it in
  // bounds. (Mapping every large body instead, M_MMAP_THRESHOLD, cost 17 %
  // of the throughput.)
  mallopt(M_ARENA_MAX, 2);

  resolve_parallelism(options);
  KESTREL_ASSIGN_OR_RETURN(const std::vector<serve::ModelLocation> locations, model_locations(options));
  const serve::ExecutionOptions execution{.sessions = options.sessions,
                                          .threads = options.threads,
                                          .max_batch = options.no_batching ? 1 : options.max_batch,
                                          .max_queue_delay = std::chrono::microseconds(options.max_queue_delay_us),
                                          .max_queue = static_cast<size_t>(options.max_queue)};
  serve::MetricsRegistry metrics;
  KESTREL_ASSIGN_OR_RETURN(std::unique_ptr<serve::ModelRepository> repository,
                           serve::ModelRepository::load(locations, execution, metrics, options.repository));
  print_models(*repository, options);
  serve::HttpServer server(*repository, metrics,
                           {.max_request_bytes = static_cast<size_t>(options.max_request_bytes),
                            .request_timeout = std::chrono::milliseconds(options.request_timeout_ms),
                            .http_threads = options.http_threads});
  KESTREL_ASSIGN_OR_RETURN(const int port, server.bind(options.host, options.port));
  std::unique_ptr<serve::GrpcServer> grpc;
  int grpc_port = 0;
  if (options.grpc_port != kGrpcDisabled) {
    grpc = std::make_unique<serve::GrpcServer>(
        *repository, serve::GrpcOptions{.max_request_bytes = static_cast<size_t>(options.max_request_bytes),
                                        .request_timeout = std::chrono::milliseconds(options.request_timeout_ms)});
    KESTREL_ASSIGN_OR_RETURN(grpc_port, grpc->start(options.host, options.grpc_port));
  }
  std::unique_ptr<RepositoryPoller> poller;
  if (options.repository_poll_secs > 0) {
    poller = std::make_unique<RepositoryPoller>(
        *repository, std::chrono::milliseconds(static_cast<int64_t>(options.repository_poll_secs * 1000.0)));
  }
  Status served = serve_until_signalled(server, grpc.get(), options, port, grpc_port);
  poller.reset();
  // Every queued request answered (none are left: the HTTP and gRPC threads waited for theirs).
  repository->shutdown();
  if (served.ok()) std::cerr << "kestrel serve: stopped\n";
  return served;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve models over HTTP and gRPC (KServe v2 / Open Inference Protocol)");
  CLI::Option* repository =
      cmd->add_option("--model-repository", options->repository, "Folder of models: DIR/NAME/VERSION/model.kestrel");
  CLI::Option* model = cmd->add_option("--model", options->model, "Serve this one .kestrel file (version 1)");
  repository->excludes(model);
  cmd->add_option("--name", options->name, "Name of the --model model (default: the file name's stem)")->needs(model);
  cmd->add_option("--host", options->host, "Address to listen on");
  cmd->add_option("--port", options->port, "Port to listen on (0: any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--grpc-port", options->grpc_port, "gRPC port (0: any free port; -1, the default: no gRPC)")
      ->check(CLI::Range(kGrpcDisabled, 65535));
  cmd->add_option("--sessions", options->sessions, "Sessions per model version (default: cores / --threads)")
      ->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_option("--threads", options->threads, "Threads per session (default: 1 with several sessions, else all)")
      ->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_option("--max-batch", options->max_batch, "Rows per run (default: the model's max batch; 1 without one)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_flag("--no-batching", options->no_batching, "Run every request alone (as --max-batch 1)");
  cmd->add_option("--max-queue-delay-us", options->max_queue_delay_us,
                  "Longest wait for a batch to fill, after its oldest request")
      ->check(CLI::Range(int64_t{0}, int64_t{60'000'000}));
  cmd->add_option("--max-queue", options->max_queue,
                  "Pending requests per model version; more are refused (503 / UNAVAILABLE)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  cmd->add_option("--max-request-bytes", options->max_request_bytes,
                  "Largest request body or gRPC message (413 / RESOURCE_EXHAUSTED above)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--request-timeout-ms", options->request_timeout_ms,
                  "Per-request limit, queue and run (504 / DEADLINE_EXCEEDED after)")
      ->check(CLI::Range(int64_t{1}, int64_t{86'400'000}));
  cmd->add_option("--http-threads", options->http_threads, "Connections served at once")->check(CLI::Range(1, 4096));
  cmd->add_option("--repository-poll-secs", options->repository_poll_secs,
                  "Check the model repository every S seconds: load new and changed model folders, unload removed ones "
                  "(0: only at start and on request)")
      ->check(CLI::Range(0.0, 86400.0))
      ->needs(repository);
  return [options] { return serve_models(*options); };
}

}  // namespace kestrel::cli
