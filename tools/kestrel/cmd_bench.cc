// kestrel bench: load time, latency percentiles, throughput and achieved
// GFLOP/s of a model at a given batch and thread count.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "passes/cost_model.h"

namespace kestrel::cli {
namespace {

struct BenchOptions {
  std::string model, input_shape;
  int64_t batch = 1;
  int threads = 1;
  int iterations = 50;
  int warmup = 5;
  bool json = false;
  bool per_layer = false;
};

double percentile(std::vector<double> sorted, double fraction) {
  const size_t index = std::min(sorted.size() - 1, static_cast<size_t>(fraction * static_cast<double>(sorted.size())));
  return sorted[index];
}

// The model's own input shapes with the batch dim set to --batch.
StatusOr<InputShapes> bench_shapes(const BenchOptions& options) {
  if (!options.input_shape.empty()) return parse_input_shapes(options.input_shape);
  if (is_kestrel_file(options.model)) return InputShapes{};
  KESTREL_ASSIGN_OR_RETURN(auto graph, load_onnx_model(options.model));
  InputShapes shapes;
  for (ValueId id : graph->inputs) {
    Shape shape = graph->value(id).shape;
    if (!shape.empty()) shape[0] = options.batch;
    for (int64_t dim : shape) {
      if (dim < 0) return invalid_argument("input '", graph->value(id).name, "' has dynamic dims; give --input-shape");
    }
    shapes[graph->value(id).name] = shape;
  }
  return shapes;
}

void fill_random(Session& session) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (size_t i = 0; i < session.graph().inputs.size(); ++i) {
    Tensor& input = session.input(i);
    if (input.dtype() != DType::kFloat32) continue;
    for (int64_t k = 0; k < input.size(); ++k) input.data<float>()[k] = dist(rng);
  }
}

void print_per_layer(const Session& session, double median_ms) {
  std::printf("\n%5s  %-44s %-12s %-34s %9s %6s\n", "#", "node", "op", "kernel", "ms", "%");
  const auto& profile = session.profile();
  for (size_t i = 0; i < profile.size(); ++i) {
    const double ms = profile[i].runs ? profile[i].total_ms / static_cast<double>(profile[i].runs) : 0.0;
    std::printf("%5zu  %-44s %-12s %-34s %9.3f %6.1f\n", i, profile[i].name.c_str(), profile[i].op.c_str(),
                profile[i].implementation.c_str(), ms, 100.0 * ms / median_ms);
  }
}

Status bench(const BenchOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(InputShapes shapes, bench_shapes(options));
  const int64_t required_batch = is_kestrel_file(options.model) && options.input_shape.empty() ? options.batch : 0;
  KESTREL_ASSIGN_OR_RETURN(
      OpenedModel opened,
      open_model(options.model, shapes, {.threads = options.threads, .profile = options.per_layer}, required_batch));
  Session& session = *opened.session;
  const int64_t batch = session.input(0).rank() > 0 ? session.input(0).dim(0) : 1;
  int64_t macs = 0;
  for (const Node& node : session.graph().nodes) macs += node_macs(session.graph(), node);
  fill_random(session);
  for (int i = 0; i < options.warmup; ++i) KESTREL_RETURN_IF_ERROR(session.run());
  session.reset_profile();
  std::vector<double> times;
  for (int i = 0; i < options.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    KESTREL_RETURN_IF_ERROR(session.run());
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  const double median = percentile(times, 0.5);
  const double gflops = 2.0 * static_cast<double>(macs) / (median * 1e6);
  nlohmann::json out = {
      {"model", options.model},
      {"load_ms", opened.load_ms},
      {"batch", batch},
      {"threads", options.threads},
      {"iterations", options.iterations},
      {"latency_ms",
       {{"min", times.front()}, {"median", median}, {"p90", percentile(times, 0.9)}, {"p99", percentile(times, 0.99)}}},
      {"throughput_ips", 1000.0 * static_cast<double>(batch) / median},
      {"gflops", gflops},
      {"macs", macs}};
  if (options.json) {
    if (options.per_layer) {
      for (const NodeProfile& p : session.profile()) {
        out["layers"].push_back({{"name", p.name},
                                 {"op", p.op},
                                 {"kernel", p.implementation},
                                 {"ms", p.runs ? p.total_ms / static_cast<double>(p.runs) : 0.0}});
      }
    }
    std::cout << out.dump() << "\n";
    return {};
  }
  std::printf("%s: batch %lld, %d thread(s), %d iterations\n", options.model.c_str(), static_cast<long long>(batch),
              options.threads, options.iterations);
  std::printf("load %.1f ms | latency min %.3f  median %.3f  p90 %.3f  p99 %.3f ms | %.1f images/s | %.1f GFLOP/s\n",
              opened.load_ms, times.front(), median, percentile(times, 0.9), percentile(times, 0.99),
              1000.0 * static_cast<double>(batch) / median, gflops);
  if (options.per_layer) print_per_layer(session, median);
  return {};
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure load time, latency, throughput and GFLOP/s");
  cmd->add_option("--model", options->model, "Model (.kestrel, or .onnx compiled on the fly)")->required();
  cmd->add_option("--batch", options->batch, "Batch size (an .onnx model is compiled for it)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_option("--iterations", options->iterations, "Timed runs")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", options->warmup, "Untimed runs first")->check(CLI::Range(0, 1000000));
  cmd->add_option("--input-shape", options->input_shape, "NAME:D0,D1,... instead of the model's shape at --batch");
  cmd->add_flag("--per-layer", options->per_layer, "Time every node");
  cmd->add_flag("--json", options->json, "Print one JSON object");
  return [options] { return bench(*options); };
}

}  // namespace kestrel::cli
