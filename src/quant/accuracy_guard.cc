#include "quant/accuracy_guard.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>

#include "io/batch_loader.h"
#include "passes/compile.h"
#include "quant/accuracy.h"
#include "quant/quantize_graph.h"
#include "quant/sample_batches.h"
#include "runtime/session.h"

namespace kestrel {
namespace {

// Every session here profiles its nodes (the per-layer speed gain needs it);
// the clock reads cost well under 1 % of a run, alike for every candidate.
struct Built {
  std::unique_ptr<Session> session;
  QuantizationSummary summary;
};

StatusOr<Built> build(const Graph& optimized, const std::map<std::string, TensorStats>* stats,
                      const QuantConfig* config, int threads) {
  Graph graph = optimized;
  Built built;
  if (config != nullptr) {
    KESTREL_ASSIGN_OR_RETURN(built.summary, quantize_graph(graph, *stats, *config));
  }
  KESTREL_ASSIGN_OR_RETURN(CompiledGraph compiled, lower_for_cpu(std::move(graph)));
  auto shared = std::make_shared<const Graph>(std::move(compiled.graph));
  KESTREL_ASSIGN_OR_RETURN(built.session,
                           Session::create(shared, compiled.plan, {.threads = threads, .profile = true}));
  return built;
}

QuantConfig with_float(const QuantConfig& config, const std::vector<std::string>& nodes) {
  QuantConfig out = config;
  for (const std::string& node : nodes) {
    QuantOverride entry;
    entry.node = node;
    entry.quantize = false;
    entry.index = out.overrides.size();
    out.overrides.push_back(std::move(entry));
  }
  return out;
}

// The first validation images, preprocessed once, in the model's batches.
struct SampleSet {
  std::vector<Tensor> batches;
  std::vector<int64_t> counts;  // real images in each
};

StatusOr<SampleSet> load_samples(const Dataset& images, const PreprocessSpec& spec, const PreprocessedSize& size,
                                 int64_t count, int workers, int64_t batch_size) {
  count = std::min(count, images.size());
  const std::unique_ptr<Dataset> first = slice_dataset(images, 0, count);
  KESTREL_ASSIGN_OR_RETURN(auto loader, BatchLoader::create(*first, spec, size, count, batch_size, workers));
  SampleSet set;
  for (;;) {
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> batch, loader->next());
    if (!batch) break;
    set.batches.push_back(std::move(batch->input));
    set.counts.push_back(batch->count);
  }
  return set;
}

StatusOr<std::vector<float>> sample_logits(Session& session, const SampleSet& set) {
  std::vector<float> logits;
  for (size_t i = 0; i < set.batches.size(); ++i) {
    std::memcpy(session.input(0).raw_data(), set.batches[i].raw_data(), session.input(0).nbytes());
    KESTREL_RETURN_IF_ERROR(session.run());
    const Tensor& out = session.output(0);
    const int64_t row = out.size() / out.dim(0);
    logits.insert(logits.end(), out.data<float>(), out.data<float>() + set.counts[i] * row);
  }
  return logits;
}

// Mean time per run of every node, by name.
StatusOr<std::map<std::string, double>> layer_times(Session& session, int runs) {
  for (int i = 0; i < 2; ++i) KESTREL_RETURN_IF_ERROR(session.run());
  session.reset_profile();
  for (int i = 0; i < runs; ++i) KESTREL_RETURN_IF_ERROR(session.run());
  std::map<std::string, double> times;
  for (const NodeProfile& p : session.profile()) {
    times[p.name] = p.runs > 0 ? p.total_ms / static_cast<double>(p.runs) : 0.0;
  }
  return times;
}

// Median latency of each session, in alternating rounds.
StatusOr<std::vector<double>> median_latencies(const std::vector<Session*>& sessions, const Tensor& input) {
  constexpr int kRounds = 3, kRuns = 15;
  std::vector<std::vector<double>> times(sessions.size());
  for (Session* session : sessions) {
    std::memcpy(session->input(0).raw_data(), input.raw_data(), session->input(0).nbytes());
    KESTREL_RETURN_IF_ERROR(session->run());
  }
  for (int round = 0; round < kRounds; ++round) {
    for (size_t s = 0; s < sessions.size(); ++s) {
      for (int i = 0; i < kRuns; ++i) {
        const auto start = std::chrono::steady_clock::now();
        KESTREL_RETURN_IF_ERROR(sessions[s]->run());
        times[s].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
    }
  }
  std::vector<double> medians;
  for (auto& t : times) {
    std::sort(t.begin(), t.end());
    medians.push_back(t[t.size() / 2]);
  }
  return medians;
}

// Every quantized layer of `int8` alone in FP32 (and, with `alone`, alone
// in INT8): logit SQNR on `samples` against FP32, and the profiled speed gain.
StatusOr<SensitivityReport> rank_layers(const Graph& optimized, const std::map<std::string, TensorStats>& stats,
                                        const QuantConfig& config, Session& fp32, Built& int8, const SampleSet& samples,
                                        int threads, bool alone) {
  SensitivityReport report;
  for (int64_t count : samples.counts) report.images += count;
  KESTREL_ASSIGN_OR_RETURN(const std::vector<float> reference, sample_logits(fp32, samples));
  KESTREL_ASSIGN_OR_RETURN(const std::vector<float> all_int8, sample_logits(*int8.session, samples));
  report.all_int8_sqnr_db = signal_to_noise_db(reference, all_int8);
  KESTREL_ASSIGN_OR_RETURN(const auto fp32_times, layer_times(fp32, 10));
  KESTREL_ASSIGN_OR_RETURN(const auto int8_times, layer_times(*int8.session, 10));
  const std::vector<std::string>& quantized = int8.summary.quantized;
  for (const std::string& node : quantized) {
    LayerSensitivity layer{.node = node, .alone_sqnr_db = std::nan("")};
    const auto f = fp32_times.find(node);
    const auto q = int8_times.find(node);
    if (f != fp32_times.end() && q != int8_times.end()) layer.speed_gain_ms = std::max(0.0, f->second - q->second);
    const QuantConfig one_float = with_float(config, {node});
    KESTREL_ASSIGN_OR_RETURN(Built without, build(optimized, &stats, &one_float, threads));
    KESTREL_ASSIGN_OR_RETURN(const std::vector<float> logits, sample_logits(*without.session, samples));
    layer.sqnr_gain_db = signal_to_noise_db(reference, logits) - report.all_int8_sqnr_db;
    if (alone) {
      std::vector<std::string> others;
      for (const std::string& other : quantized) {
        if (other != node) others.push_back(other);
      }
      const QuantConfig one_int8 = with_float(config, others);
      KESTREL_ASSIGN_OR_RETURN(Built only, build(optimized, &stats, &one_int8, threads));
      KESTREL_ASSIGN_OR_RETURN(const std::vector<float> only_logits, sample_logits(*only.session, samples));
      layer.alone_sqnr_db = signal_to_noise_db(reference, only_logits);
    }
    report.layers.push_back(std::move(layer));
  }
  std::stable_sort(
      report.layers.begin(), report.layers.end(),
      [](const LayerSensitivity& a, const LayerSensitivity& b) { return a.sqnr_gain_db > b.sqnr_gain_db; });
  return report;
}

std::string percent(double rate) { return str_cat(std::round(rate * 10000) / 100, " %"); }

}  // namespace

StatusOr<GuardResult> guard_accuracy(const Graph& optimized, const std::map<std::string, TensorStats>& stats,
                                     const QuantConfig& config, const GuardOptions& options) {
  if (options.validation == nullptr || options.validation->size() == 0) {
    return invalid_argument("the accuracy guard needs validation images");
  }
  if (!(options.max_drop_points >= 0)) {
    return invalid_argument("--max-accuracy-drop must be at least 0, got ", options.max_drop_points);
  }
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  GuardResult result;
  result.config = config;
  result.validation_images = options.validation->size();
  auto accuracy_of = [&](Session& session, const std::string& label) -> StatusOr<double> {
    KESTREL_ASSIGN_OR_RETURN(
        const Accuracy accuracy,
        measure_accuracy(session, *options.validation, options.spec, options.size,
                         {.workers = options.workers, .progress_label = options.progress ? "guard " + label : ""}));
    return accuracy.top1_rate();
  };

  KESTREL_ASSIGN_OR_RETURN(Built fp32, build(optimized, nullptr, nullptr, options.threads));
  KESTREL_RETURN_IF_ERROR(check_classifier(*fp32.session, "the model", *options.validation, options.spec, options.size,
                                           "the validation set"));
  KESTREL_ASSIGN_OR_RETURN(result.fp32_top1, accuracy_of(*fp32.session, "FP32"));
  KESTREL_ASSIGN_OR_RETURN(Built int8, build(optimized, &stats, &config, options.threads));
  result.quantized_layers = int8.summary.quantized.size();
  KESTREL_ASSIGN_OR_RETURN(result.int8_top1, accuracy_of(*int8.session, "INT8"));
  const double budget = options.max_drop_points / 100;
  log(str_cat("guard: top-1 on ", result.validation_images, " validation images: FP32 ", percent(result.fp32_top1),
              ", INT8 ", percent(result.int8_top1), " (budget: a drop of at most ", options.max_drop_points,
              " points)"));
  double best = result.int8_top1;
  std::unique_ptr<Session> final_session;
  if (result.fp32_top1 - best > budget + 1e-12) {
    // Rank the quantized layers.
    KESTREL_ASSIGN_OR_RETURN(const SampleSet samples,
                             load_samples(*options.validation, options.spec, options.size, options.sensitivity_images,
                                          options.workers, fp32.session->input(0).dim(0)));
    log(str_cat("guard: ranking ", int8.summary.quantized.size(), " quantized layers by the logit SQNR gained on ",
                std::min(options.sensitivity_images, options.validation->size()),
                " images when each alone stays FP32"));
    KESTREL_ASSIGN_OR_RETURN(const SensitivityReport ranked, rank_layers(optimized, stats, config, *fp32.session, int8,
                                                                         samples, options.threads, false));
    double mean_gain = 0;
    for (const LayerSensitivity& layer : ranked.layers) {
      GuardCandidate candidate;
      static_cast<LayerSensitivity&>(candidate) = layer;
      mean_gain += layer.speed_gain_ms / static_cast<double>(ranked.layers.size());
      result.candidates.push_back(std::move(candidate));
    }
    auto score = [&](const GuardCandidate& c) { return c.sqnr_gain_db / (c.speed_gain_ms + mean_gain + 1e-9); };
    std::stable_sort(result.candidates.begin(), result.candidates.end(),
                     [&](const GuardCandidate& a, const GuardCandidate& b) {
                       const bool a_helps = a.sqnr_gain_db > 0, b_helps = b.sqnr_gain_db > 0;
                       if (a_helps != b_helps) return a_helps;
                       if (a_helps) return score(a) > score(b);
                       return a.speed_gain_ms < b.speed_gain_ms;  // no SQNR gain: the cheapest first
                     });
    // Move, confirm, keep or undo.
    std::vector<std::string> moved;
    for (GuardCandidate& candidate : result.candidates) {
      if (result.fp32_top1 - best <= budget + 1e-12) break;
      std::vector<std::string> trial = moved;
      trial.push_back(candidate.node);
      const QuantConfig trial_config = with_float(config, trial);
      KESTREL_ASSIGN_OR_RETURN(Built built, build(optimized, &stats, &trial_config, options.threads));
      KESTREL_ASSIGN_OR_RETURN(candidate.top1, accuracy_of(*built.session, "candidate"));
      candidate.kept_float = candidate.top1 > best;
      log(str_cat("guard: ", candidate.node, " in FP32 (SQNR +", std::round(candidate.sqnr_gain_db * 100) / 100,
                  " dB, INT8 saves ", std::round(candidate.speed_gain_ms * 1000) / 1000, " ms): top-1 ",
                  percent(candidate.top1), candidate.kept_float ? ", kept" : ", no gain, undone"));
      if (!candidate.kept_float) continue;
      best = candidate.top1;
      moved = std::move(trial);
      final_session = std::move(built.session);
    }
    if (result.fp32_top1 - best > budget + 1e-12 || moved.size() == int8.summary.quantized.size()) {
      return invalid_argument(
          "--max-accuracy-drop ", options.max_drop_points, " cannot be met on these ", result.validation_images,
          " validation images: FP32 top-1 ", percent(result.fp32_top1), ", INT8 ", percent(result.int8_top1),
          ", the best reached ", percent(best), " with ", moved.size(), " of ", int8.summary.quantized.size(),
          " quantized layers in FP32",
          moved.size() == int8.summary.quantized.size() ? " (every one: that is the FP32 model)" : "",
          "; allow a larger drop or calibrate otherwise (nothing was written)");
    }
    result.kept_float = moved;
    result.config = with_float(config, moved);
  }
  result.final_top1 = best;
  Session& final_model = final_session ? *final_session : *int8.session;
  Tensor input(DType::kFloat32, fp32.session->input(0).shape());
  std::memcpy(input.raw_data(), fp32.session->input(0).raw_data(), input.nbytes());
  KESTREL_ASSIGN_OR_RETURN(const std::vector<double> medians,
                           median_latencies({fp32.session.get(), int8.session.get(), &final_model}, input));
  result.fp32_ms = medians[0];
  result.int8_ms = medians[1];
  result.final_ms = medians[2];
  return result;
}

StatusOr<SensitivityReport> measure_sensitivity(const Graph& optimized, const std::map<std::string, TensorStats>& stats,
                                                const QuantConfig& config, const SensitivityOptions& options) {
  if (options.images == nullptr || options.images->size() == 0) {
    return invalid_argument("the sensitivity ranking needs images");
  }
  KESTREL_ASSIGN_OR_RETURN(Built fp32, build(optimized, nullptr, nullptr, options.threads));
  KESTREL_ASSIGN_OR_RETURN(Built int8, build(optimized, &stats, &config, options.threads));
  KESTREL_ASSIGN_OR_RETURN(const SampleSet samples,
                           load_samples(*options.images, options.spec, options.size, options.count, options.workers,
                                        fp32.session->input(0).dim(0)));
  return rank_layers(optimized, stats, config, *fp32.session, int8, samples, options.threads, options.alone);
}

}  // namespace kestrel
