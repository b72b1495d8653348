#include "serve/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "serve/inference.h"
#include "serve/protocol.h"

#ifndef KESTREL_VERSION
#define KESTREL_VERSION "0.0.0"
#endif

namespace kestrel::serve {
namespace {

using nlohmann::json;

constexpr const char* kJson = "application/json";
constexpr int kOk = 200, kBadRequest = 400, kNotFound = 404, kPayloadTooLarge = 413, kInternalError = 500,
              kUnavailable = 503, kGatewayTimeout = 504;
// Idle keep-alive connections hold a server thread: let them go soon, and
// let busy ones send many requests.
constexpr time_t kKeepAliveSeconds = 2;
constexpr size_t kKeepAliveRequests = 10000;
constexpr const char* kHeaderLengthHeader = "Inference-Header-Content-Length";

std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump(body), kJson);
}

void reply_error(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  res.set_content(error_body(message), kJson);
}

json tensor_metadata(const ModelSignature& signature, const TensorSpec& spec) {
  return {{"name", spec.name}, {"datatype", datatype_name(spec.dtype)}, {"shape", protocol_shape(signature, spec)}};
}

// A tensor in Triton's model configuration: dims without the batch dim when
// the model batches (max_batch_size > 0), as Triton writes them.
json config_tensor(const ModelSignature& signature, const TensorSpec& spec) {
  std::vector<int64_t> dims = spec.shape;
  if (signature.max_batch > 0 && !dims.empty()) dims.erase(dims.begin());
  return {{"name", spec.name}, {"data_type", "TYPE_" + datatype_name(spec.dtype)}, {"dims", dims}};
}

int infer_error_status(InferError error) {
  switch (error) {
    case InferError::kNone: return kOk;
    case InferError::kQueueFull:
    case InferError::kShuttingDown: return kUnavailable;
    case InferError::kTimedOut: return kGatewayTimeout;
    case InferError::kRunFailed: return kInternalError;
  }
  return kInternalError;
}

}  // namespace

struct HttpServer::Impl {
  ModelRepository& models;
  const MetricsRegistry& metrics;
  HttpOptions options;
  httplib::Server server;
  std::atomic<bool> serve_returned{false};

  Impl(ModelRepository& repository, const MetricsRegistry& registry, const HttpOptions& http_options)
      : models(repository), metrics(registry), options(http_options) {
    const size_t threads = static_cast<size_t>(std::max(options.http_threads, 1));
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_payload_max_length(options.max_request_bytes);
    server.set_keep_alive_timeout(kKeepAliveSeconds);
    server.set_keep_alive_max_count(kKeepAliveRequests);
    server.set_tcp_nodelay(true);  // headers and body go out as separate writes: no Nagle wait between them
    add_routes();
    server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) { fill_error(req, res); });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, const std::exception_ptr& error) {
      std::string message = "internal error";
      try {
        if (error) std::rethrow_exception(error);
      } catch (const std::exception& e) {
        message += std::string(": ") + e.what();
      } catch (...) {  // NOLINT(bugprone-empty-catch): the message says it
      }
      reply_error(res, kInternalError, message);
    });
  }

  // The JSON error body for the errors httplib answers itself (no route, a
  // body over the limit); the handlers' own errors already have one.
  httplib::Server::HandlerResponse fill_error(const httplib::Request& req, httplib::Response& res) const {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == kPayloadTooLarge) {
      reply_error(res, res.status,
                  "request body exceeds --max-request-bytes (" + std::to_string(options.max_request_bytes) + " bytes)");
    } else if (res.status == kNotFound) {
      reply_error(res, res.status, "no endpoint " + req.method + " " + req.path);
    } else {
      reply_error(res, res.status, "HTTP error " + std::to_string(res.status));
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  void add_routes() {
    server.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
      reply_json(res, kOk, {{"live", true}});
    });
    server.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      const bool ready = server.is_running();
      reply_json(res, ready ? kOk : kUnavailable, {{"ready", ready}});
    });
    server.Get("/v2", [](const httplib::Request&, httplib::Response& res) {
      reply_json(res, kOk,
                 {{"name", "kestrel"},
                  {"version", KESTREL_VERSION},
                  {"extensions", {"binary_tensor_data", "model_configuration", "statistics", "model_repository"}}});
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.render(), "text/plain; version=0.0.4");
    });
    // Triton's model repository extension.
    server.Post("/v2/repository/index", [this](const httplib::Request&, httplib::Response& res) {
      json list = json::array();
      for (const ModelRepository::IndexEntry& entry : models.index()) {
        json item = {{"name", entry.name}, {"state", entry.state}};
        if (!entry.version.empty()) item["version"] = entry.version;
        if (!entry.reason.empty()) item["reason"] = entry.reason;
        list.push_back(std::move(item));
      }
      reply_json(res, kOk, list);
    });
    server.Post(R"(/v2/repository/models/([^/]+)/(load|unload))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  const std::string name = req.matches[1];
                  const bool load = req.matches[2] == "load";
                  const Status done = load ? models.load_model(name) : models.unload_model(name);
                  if (done.ok()) {
                    std::string versions;
                    for (const std::string& version : models.versions(name)) versions += " " + version;
                    std::cerr << "kestrel serve: " << (load ? "loaded model '" : "unloaded model '") << name << "'"
                              << (load ? ", versions" + versions : "") << "\n";
                    return reply_json(res, kOk, json::object());
                  }
                  reply_error(res, done.code() == StatusCode::kNotFound ? kNotFound : kBadRequest, done.message());
                });
    const std::string model_path = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    server.Get(model_path, [this](const httplib::Request& req, httplib::Response& res) { model_metadata(req, res); });
    server.Get(model_path + "/config",
               [this](const httplib::Request& req, httplib::Response& res) { model_config(req, res); });
    server.Get(model_path + "/stats",
               [this](const httplib::Request& req, httplib::Response& res) { model_stats(req, res); });
    server.Get(model_path + "/ready",
               [this](const httplib::Request& req, httplib::Response& res) { model_ready(req, res); });
    // With a content reader: httplib caps plain handlers' form-encoded bodies
    // (curl's default Content-Type) at 8 KiB.
    server.Post(model_path + "/infer",
                [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                  std::string body;
                  if (!read_body(req, res, reader, body)) return;
                  infer(req, body, res);
                });
  }

  // The model a request names, or a 404 answer and null.
  ModelHandle find_model(const httplib::Request& req, httplib::Response& res) const {
    const std::string name = req.matches[1];
    const std::string version = req.matches.size() > 2 ? req.matches[2].str() : "";
    ModelHandle model = models.find(name, version);
    if (!model) reply_error(res, kNotFound, unknown_model_message(models, name, version));
    return model;
  }

  void model_metadata(const httplib::Request& req, httplib::Response& res) const {
    const ModelHandle model = find_model(req, res);
    if (!model) return;
    const ModelSignature& signature = model->signature();
    json inputs = json::array(), outputs = json::array();
    for (const TensorSpec& spec : signature.inputs) inputs.push_back(tensor_metadata(signature, spec));
    for (const TensorSpec& spec : signature.outputs) outputs.push_back(tensor_metadata(signature, spec));
    reply_json(res, kOk,
               {{"name", model->name()},
                {"versions", models.versions(model->name())},
                {"platform", "kestrel"},
                {"inputs", inputs},
                {"outputs", outputs},
                {"parameters", {{"max_batch_size", signature.max_batch}, {"batch_rows", model->batch_rows()}}}});
  }

  // Triton's model configuration extension (GET .../config), which Triton's
  // own tools (perf_analyzer, model_analyzer) read before they send requests.
  void model_config(const httplib::Request& req, httplib::Response& res) const {
    const ModelHandle model = find_model(req, res);
    if (!model) return;
    const ModelSignature& signature = model->signature();
    const Batcher::Options& batching = model->batcher().options();
    json inputs = json::array(), outputs = json::array();
    for (const TensorSpec& spec : signature.inputs) inputs.push_back(config_tensor(signature, spec));
    for (const TensorSpec& spec : signature.outputs) outputs.push_back(config_tensor(signature, spec));
    json config = {{"name", model->name()},
                   {"platform", "kestrel"},
                   {"backend", "kestrel"},
                   {"max_batch_size", signature.max_batch},
                   {"input", inputs},
                   {"output", outputs},
                   {"instance_group", {{{"kind", "KIND_CPU"}, {"count", batching.workers}}}}};
    if (batching.max_batch > 1) {
      config["dynamic_batching"] = {{"max_queue_delay_microseconds", batching.max_queue_delay.count()}};
    }
    reply_json(res, kOk, config);
  }

  // Triton's statistics extension (GET .../stats) for one version: counts
  // and cumulative durations in nanoseconds, which perf_analyzer reads to
  // split a request's latency into server queue and compute time. The
  // compute_input and compute_output phases are part of compute_infer here.
  void model_stats(const httplib::Request& req, httplib::Response& res) const {
    const ModelHandle model = find_model(req, res);
    if (!model) return;
    const ModelMetrics::Totals totals = model->metrics().totals();
    const auto duration = [](uint64_t count, uint64_t us) { return json{{"count", count}, {"ns", us * 1000}}; };
    const json stats = {{"name", model->name()},
                        {"version", model->version()},
                        {"last_inference", totals.last_inference_ms},
                        {"inference_count", totals.inference_count},
                        {"execution_count", totals.exec_count},
                        {"inference_stats",
                         {{"success", duration(totals.success, totals.request_us)},
                          {"fail", duration(totals.failure, 0)},
                          {"queue", duration(totals.success, totals.queue_us)},
                          {"compute_input", duration(totals.success, 0)},
                          {"compute_infer", duration(totals.success, totals.compute_us)},
                          {"compute_output", duration(totals.success, 0)}}},
                        {"batch_stats", json::array()}};
    reply_json(res, kOk, {{"model_stats", json::array({stats})}});
  }

  void model_ready(const httplib::Request& req, httplib::Response& res) const {
    const ModelHandle model = find_model(req, res);
    if (!model) return;
    reply_json(res, kOk, {{"name", model->name()}, {"version", model->version()}, {"ready", true}});
  }

  // False (and the error answered) when the body is over the limit or cut.
  bool read_body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                 std::string& body) const {
    if (req.has_header("Content-Length")) {
      body.reserve(std::min<size_t>(req.get_header_value<uint64_t>("Content-Length"), options.max_request_bytes));
    }
    if (reader([&](const char* data, size_t size) {
          body.append(data, size);
          return true;
        })) {
      return true;
    }
    if (res.status == kPayloadTooLarge) {
      res.body.clear();
      fill_error(req, res);
    } else {
      reply_error(res, kBadRequest, "cannot read the request body");
    }
    return false;
  }

  void infer(const httplib::Request& req, const std::string& body, httplib::Response& res) const {
    const Clock::time_point start = Clock::now();
    const ModelHandle model = find_model(req, res);
    if (!model) return;
    std::optional<std::string> header_length;
    if (req.has_header(kHeaderLengthHeader)) header_length = req.get_header_value(kHeaderLengthHeader);
    StatusOr<ParsedInferRequest> parsed = parse_infer_request(body, header_length, model->signature());
    if (!parsed.ok()) {
      model->metrics().record_failure();
      return reply_error(res, kBadRequest, parsed.status().message());
    }
    const InferOutcome outcome = run_inference(*model, *parsed, {.start = start, .timeout = options.request_timeout});
    if (outcome.error != InferError::kNone) return reply_error(res, infer_error_status(outcome.error), outcome.message);
    const InferRequest& request = *outcome.request;
    InferResponse response =
        encode_infer_response(model->name(), model->version(), model->signature(), *parsed, request.outputs);
    if (response.header_length) res.set_header(kHeaderLengthHeader, std::to_string(*response.header_length));
    res.set_header("Content-Type", response.header_length ? "application/octet-stream" : kJson);
    res.body = std::move(response.body);  // set_content would copy it
    res.status = kOk;
    record_answered(*model, request, start);
  }
};

HttpServer::HttpServer(ModelRepository& models, const MetricsRegistry& metrics, const HttpOptions& options)
    : impl_(std::make_unique<Impl>(models, metrics, options)) {}

HttpServer::~HttpServer() = default;

StatusOr<int> HttpServer::bind(const std::string& host, int port) {
  const int bound =
      port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return invalid_argument("cannot listen on ", host, ":", port, " (address in use or not local?)");
  return bound;
}

Status HttpServer::serve() {
  const bool clean = impl_->server.listen_after_bind();
  impl_->serve_returned.store(true);
  if (!clean) return internal_error("the HTTP server stopped with an error");
  return {};
}

void HttpServer::stop() {
  // httplib's stop() does nothing before listening starts: wait for it.
  while (!impl_->server.is_running() && !impl_->serve_returned.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server.stop();
}

}  // namespace kestrel::serve
