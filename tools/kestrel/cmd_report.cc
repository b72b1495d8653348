// kestrel report: an FP32 and an INT8 model of the same network, evaluated
// on the same images and benchmarked in the same minutes (alternating
// rounds), with per-layer time and error: the table on stdout and a
// self-contained HTML page with plots (report_html.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "base/safe_write.h"
#include "commands.h"
#include "compare_models.h"
#include "io/batch_loader.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "report_html.h"

namespace kestrel::cli {
namespace {

struct ReportOptions {
  std::string fp32, int8, dataset, labels, preprocess, class_names, output;
  int64_t limit = -1, offset = 0, compare_count = 16;
  int threads = 0;
  int rounds = 5, iterations = 100, load_rounds = 3;
  int workers = 1;
  bool json = false;
};

int default_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp<unsigned>(cores, 1, kMaxSessionThreads));
}

// A "VmRSS:"-style field of /proc/self/status, in bytes; -1 when unreadable.
int64_t process_status_bytes(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    try {
      return std::stoll(line.substr(key.size() + 1)) * 1024;  // "  123456 kB"
    } catch (const std::exception&) {
      return -1;
    }
  }
  return -1;
}

// Resets the kernel's peak-resident counter (VmHWM) to the current size.
bool reset_peak_memory() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return clear.good();
}

struct OpenCost {
  double load_ms = 0;
  int64_t peak_bytes = -1;
};

// Opens `path` and runs it once, measuring the time to ready and the
// resident memory the session added at its peak (the current growth where
// the peak cannot be reset).
StatusOr<OpenCost> measure_open(const std::string& path, int threads) {
  const bool peak = reset_peak_memory();
  const int64_t before = process_status_bytes("VmRSS");
  OpenCost cost;
  {
    KESTREL_ASSIGN_OR_RETURN(OpenedModel opened, open_model(path, {}, {.threads = threads}));
    cost.load_ms = opened.load_ms;
    KESTREL_RETURN_IF_ERROR(opened.session->run().with_context(path));
    const int64_t after = process_status_bytes(peak ? "VmHWM" : "VmRSS");
    if (before >= 0 && after >= 0) cost.peak_bytes = std::max<int64_t>(0, after - before);
  }
  return cost;
}

// measure_open in a child process of its own, so that neither memory this
// process already holds nor what earlier sessions freed hides the session's
// growth; and the load starts cold, as in a fresh process. Must run before
// this process starts threads. Falls back to measuring here when the child
// cannot report (the in-process run then also produces any error).
StatusOr<OpenCost> measure_open_alone(const std::string& path, int threads) {
  int fds[2];
  if (pipe(fds) != 0) return measure_open(path, threads);
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return measure_open(path, threads);
  }
  if (child == 0) {
    close(fds[0]);
    const StatusOr<OpenCost> cost = measure_open(path, threads);
    const double message[2] = {cost.ok() ? cost->load_ms : -1.0,
                               cost.ok() ? static_cast<double>(cost->peak_bytes) : -1.0};
    const bool sent = cost.ok() && write(fds[1], message, sizeof message) == static_cast<ssize_t>(sizeof message);
    close(fds[1]);
    _exit(sent ? 0 : 1);
  }
  close(fds[1]);
  double message[2] = {-1.0, -1.0};
  size_t got = 0;
  while (got < sizeof message) {
    const ssize_t n = read(fds[0], reinterpret_cast<char*>(message) + got, sizeof message - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (got != sizeof message || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return measure_open(path, threads);
  return OpenCost{.load_ms = message[0], .peak_bytes = static_cast<int64_t>(message[1])};
}

std::string cpu_description() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model, family;
  while (std::getline(cpuinfo, line) && (model.empty() || family.empty())) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon + 2 > line.size()) continue;
    const std::string value = line.substr(colon + 2);
    if (line.rfind("model name", 0) == 0 && model.empty()) model = value;
    if (line.rfind("cpu family", 0) == 0 && family.empty()) family = value;
  }
  std::string out = model.empty() ? "unknown CPU" : model;
  if (!family.empty()) out += " (family " + family + ")";
  return out + ", " + std::to_string(std::thread::hardware_concurrency()) + " logical cores";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

Status time_runs(Session& session, int iterations, std::vector<double>& times) {
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    KESTREL_RETURN_IF_ERROR(session.run());
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return {};
}

std::vector<LayerTime> mean_layer_times(const Session& session) {
  std::vector<LayerTime> layers;
  for (const NodeProfile& p : session.profile()) {
    layers.push_back({p.name, p.op, p.implementation, p.runs ? p.total_ms / static_cast<double>(p.runs) : 0.0});
  }
  return layers;
}

int64_t file_bytes(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return error ? -1 : static_cast<int64_t>(size);
}

nlohmann::json model_json(const ModelMeasurements& m, int64_t batch) {
  nlohmann::json classes = nlohmann::json::array();
  for (size_t c = 0; c < m.accuracy.class_images.size(); ++c) {
    classes.push_back({{"images", m.accuracy.class_images[c]}, {"top1", m.accuracy.class_top1[c]}});
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerTime& l : m.layers)
    layers.push_back({{"name", l.name}, {"op", l.op}, {"kernel", l.kernel}, {"ms", l.ms}});
  return {{"model", m.path},
          {"file_bytes", m.file_bytes},
          {"load_ms", m.load_ms},
          {"peak_bytes", m.peak_bytes < 0 ? nlohmann::json(nullptr) : nlohmann::json(m.peak_bytes)},
          {"latency_ms", {{"median", m.latency(0.5)}, {"p90", m.latency(0.9)}, {"p99", m.latency(0.99)}}},
          {"throughput_ips", 1000.0 * static_cast<double>(batch) / m.latency(0.5)},
          {"runs", m.latencies_ms.size()},
          {"images", m.accuracy.images},
          {"top1", m.accuracy.top1_rate()},
          {"top5", m.accuracy.top5_rate()},
          {"classes", classes},
          {"layers", layers}};
}

Status check_same_inputs(const std::string& a, Session& sa, const std::string& b, Session& sb) {
  const Graph& ga = sa.graph();
  const Graph& gb = sb.graph();
  if (ga.inputs.size() != 1 || gb.inputs.size() != 1 || sa.input(0).shape() != sb.input(0).shape() ||
      sa.input(0).dtype() != sb.input(0).dtype()) {
    auto describe = [](Session& s) {
      std::string out;
      for (size_t i = 0; i < s.graph().inputs.size(); ++i) {
        out += str_cat(i ? ", " : "", s.graph().value(s.graph().inputs[i]).name, " ", dtype_name(s.input(i).dtype()),
                       " ", shape_string(s.input(i).shape()));
      }
      return out;
    };
    return invalid_argument("the two models take different inputs: ", a, " takes ", describe(sa), "; ", b, " takes ",
                            describe(sb));
  }
  return {};
}

Status report(const ReportOptions& options) {
  for (const std::string* path : {&options.fp32, &options.int8}) {
    if (!is_kestrel_file(*path)) return invalid_argument(*path, ": report compares two .kestrel files (convert first)");
  }
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(options.preprocess));
  const bool folder = std::filesystem::is_directory(options.dataset);
  if (!folder && options.labels.empty()) return invalid_argument("--labels is required with an IDX dataset");
  KESTREL_ASSIGN_OR_RETURN(
      auto dataset, open_dataset_slice(options.dataset, options.labels, options.offset, options.limit, "--limit"));
  if (dataset->size() == 0) return invalid_argument(options.dataset, ": no images to evaluate");
  const std::string labels_source = options.labels.empty() ? options.dataset : options.labels;
  if (!dataset->has_labels()) return invalid_argument(labels_source, ": has no labels");
  std::vector<std::string> names = dataset->class_names();
  if (!options.class_names.empty()) {
    KESTREL_ASSIGN_OR_RETURN(names, read_class_names(options.class_names));
  }
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(*dataset, spec));
  const int threads = options.threads > 0 ? options.threads : default_threads();
  const bool chatty = !options.json;
  auto say = [&](const std::string& line) {
    if (chatty) std::fprintf(stderr, "%s\n", line.c_str());
  };

  Report report;
  report.dataset = options.dataset;
  report.offset = options.offset;
  report.threads = threads;
  report.rounds = options.rounds;
  report.iterations = options.iterations;
  report.cpu = cpu_description();
  report.created = utc_now();
  report.class_names = names;
  ModelMeasurements* models[2] = {&report.fp32, &report.int8};
  report.fp32.label = "FP32";
  report.int8.label = "INT8";
  report.fp32.path = options.fp32;
  report.int8.path = options.int8;

  // Load time and memory first, while this process has no threads: each
  // model opened alone in a child process, alternating.
  std::vector<double> load_ms[2];
  std::vector<int64_t> peak[2];
  for (int round = 0; round < options.load_rounds; ++round) {
    for (int m = 0; m < 2; ++m) {
      KESTREL_ASSIGN_OR_RETURN(const OpenCost cost, measure_open_alone(models[m]->path, threads));
      load_ms[m].push_back(cost.load_ms);
      if (cost.peak_bytes >= 0) peak[m].push_back(cost.peak_bytes);
    }
  }
  for (int m = 0; m < 2; ++m) {
    std::sort(load_ms[m].begin(), load_ms[m].end());
    std::sort(peak[m].begin(), peak[m].end());
    models[m]->load_ms = load_ms[m][load_ms[m].size() / 2];
    models[m]->peak_bytes = peak[m].empty() ? -1 : peak[m][peak[m].size() / 2];
    models[m]->file_bytes = file_bytes(models[m]->path);
  }

  std::unique_ptr<Session> sessions[2];
  for (int m = 0; m < 2; ++m) {
    KESTREL_ASSIGN_OR_RETURN(OpenedModel opened, open_model(models[m]->path, {}, {.threads = threads}));
    sessions[m] = std::move(opened.session);
  }
  KESTREL_RETURN_IF_ERROR(check_same_inputs(options.fp32, *sessions[0], options.int8, *sessions[1]));
  for (int m = 0; m < 2; ++m) {
    KESTREL_RETURN_IF_ERROR(check_classifier(*sessions[m], models[m]->path, *dataset, spec, size, labels_source));
  }
  const int64_t classes = sessions[0]->output(0).dim(1);
  if (sessions[1]->output(0).dim(1) != classes) {
    return invalid_argument("the two models have different outputs: ", options.fp32, " has ", classes, " classes, ",
                            options.int8, " ", sessions[1]->output(0).dim(1));
  }
  if (!options.class_names.empty() && static_cast<int64_t>(names.size()) != classes) {
    return invalid_argument(options.class_names, ": has ", names.size(), " class names but the model has ", classes,
                            " classes");
  }
  report.batch = sessions[0]->input(0).dim(0);

  for (int m = 0; m < 2; ++m) {
    say(str_cat("report: evaluating ", models[m]->label, " on ", dataset->size(), " images"));
    KESTREL_ASSIGN_OR_RETURN(
        models[m]->accuracy,
        measure_accuracy(*sessions[m], *dataset, spec, size,
                         {.workers = options.workers, .progress_label = chatty ? "eval " + models[m]->label : ""}));
  }

  // Speed: the first batch of real images, alternating rounds so that both
  // models meet the same machine load.
  say(str_cat("report: timing, ", options.rounds, " alternating rounds of ", options.iterations, " runs per model"));
  {
    KESTREL_ASSIGN_OR_RETURN(
        auto loader, BatchLoader::create(*dataset, spec, size, std::min(report.batch, dataset->size()), report.batch));
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> first, loader->next());
    if (!first) return internal_error("no first batch");
    for (auto& session : sessions) {
      std::copy_n(first->input.data<float>(), session->input(0).size(), session->input(0).data<float>());
      for (int i = 0; i < 5; ++i) KESTREL_RETURN_IF_ERROR(session->run());
    }
    for (int round = 0; round < options.rounds; ++round) {
      for (int k = 0; k < 2; ++k) {
        const int m = (round % 2 == 0) ? k : 1 - k;
        KESTREL_RETURN_IF_ERROR(time_runs(*sessions[m], options.iterations, models[m]->latencies_ms));
      }
    }
    for (ModelMeasurements* m : models) std::sort(m->latencies_ms.begin(), m->latencies_ms.end());
  }
  for (auto& session : sessions) session.reset();

  // Per-layer time, in profiled sessions of their own.
  say("report: per-layer time");
  {
    std::unique_ptr<Session> profiled[2];
    for (int m = 0; m < 2; ++m) {
      KESTREL_ASSIGN_OR_RETURN(OpenedModel opened,
                               open_model(models[m]->path, {}, {.threads = threads, .profile = true}));
      profiled[m] = std::move(opened.session);
      for (int i = 0; i < 3; ++i) KESTREL_RETURN_IF_ERROR(profiled[m]->run());
      profiled[m]->reset_profile();
    }
    const int profile_runs = std::max(10, options.iterations / 5);
    for (int i = 0; i < profile_runs; ++i) {
      for (auto& session : profiled) KESTREL_RETURN_IF_ERROR(session->run());
    }
    for (int m = 0; m < 2; ++m) models[m]->layers = mean_layer_times(*profiled[m]);
  }

  // Per-layer error on the first images of the slice.
  const int64_t compare_count = std::min(options.compare_count, dataset->size());
  say(str_cat("report: per-layer error on ", compare_count, " images"));
  {
    const std::unique_ptr<Dataset> first_images = slice_dataset(*dataset, 0, compare_count);
    KESTREL_ASSIGN_OR_RETURN(const ModelComparison comparison, compare_models(options.fp32, options.int8, *first_images,
                                                                              spec, threads, chatty ? "compare" : ""));
    report.errors = comparison.rows;
    report.error_images = comparison.images;
  }

  const std::string html = report_html(report);
  KESTREL_RETURN_IF_ERROR(write_file_atomically(options.output, html.data(), html.size(), "report"));
  const double speedup = report.fp32.latency(0.5) / report.int8.latency(0.5);
  const double change = 100 * (report.int8.accuracy.top1_rate() - report.fp32.accuracy.top1_rate());
  if (options.json) {
    std::cout << nlohmann::json{{"fp32", model_json(report.fp32, report.batch)},
                                {"int8", model_json(report.int8, report.batch)},
                                {"speedup", speedup},
                                {"top1_change_points", change},
                                {"batch", report.batch},
                                {"threads", threads},
                                {"cpu", report.cpu},
                                {"output", options.output}}
                     .dump()
              << "\n";
    return {};
  }
  std::printf("%s vs %s: %lld images of %s, batch %lld, %d thread(s); %s\n\n", options.int8.c_str(),
              options.fp32.c_str(), static_cast<long long>(report.fp32.accuracy.images), options.dataset.c_str(),
              static_cast<long long>(report.batch), threads, report.cpu.c_str());
  std::printf("%s\n", report_table(report).c_str());
  std::printf("INT8: %.2fx faster, top-1 %+.2f points\n", speedup, change);
  std::printf("report: wrote %s (open it in a browser)\n", options.output.c_str());
  return {};
}

}  // namespace

Command add_report_command(CLI::App& app) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report", "FP32 vs INT8: accuracy, speed, per-layer time and error, as a table and an HTML page with plots");
  cmd->add_option("--fp32", options->fp32, "The FP32 model (.kestrel)")->required();
  cmd->add_option("--int8", options->int8, "The INT8 model of the same network (.kestrel)")->required();
  cmd->add_option("--dataset", options->dataset, "IDX image file (gzipped or not) or a folder of PNG/JPEG images")
      ->required();
  cmd->add_option("--labels", options->labels, "IDX label file, gzipped or not (IDX datasets only)");
  cmd->add_option("--preprocess", options->preprocess, "Preprocessing spec (JSON)")->required();
  cmd->add_option("--output", options->output, "The HTML page to write")->required();
  cmd->add_option("--limit", options->limit, "Evaluate N images (default: all from --offset on)")
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--offset", options->offset, "Skip the first K images of the dataset")
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--class-names", options->class_names, "Text file with one class name per line");
  cmd->add_option("--threads", options->threads, "Threads (default: every core)")
      ->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_option("--workers", options->workers, "Threads decoding images while the model runs (default 1)")
      ->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_option("--rounds", options->rounds, "Alternating benchmark rounds (default 5)")->check(CLI::Range(1, 1000));
  cmd->add_option("--iterations", options->iterations, "Timed runs per model per round (default 100)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--compare-count", options->compare_count, "Images for the per-layer error (default 16)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}));
  cmd->add_flag("--json", options->json, "Print one JSON object instead of the table");
  return [options] { return report(*options); };
}

}  // namespace kestrel::cli
