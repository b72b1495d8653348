#include "serve/metrics.h"

#include <string_view>

namespace kestrel::serve {
namespace {

struct Family {
  const char* name;
  const char* type;
  const char* help;
};

// The order of ModelMetrics::append_samples.
constexpr std::array<Family, kMetricFamilyCount> kFamilies = {{
    {"nv_inference_request_success", "counter", "Number of successful inference requests"},
    {"nv_inference_request_failure", "counter", "Number of failed inference requests"},
    {"nv_inference_count", "counter", "Number of inferences performed (batch rows)"},
    {"nv_inference_exec_count", "counter", "Number of model executions performed"},
    {"nv_inference_request_duration_us", "counter", "Cumulative inference request duration in microseconds"},
    {"nv_inference_queue_duration_us", "counter", "Cumulative inference queuing duration in microseconds"},
    {"nv_inference_compute_infer_duration_us", "counter", "Cumulative compute inference duration in microseconds"},
    {"nv_inference_pending_request_count", "gauge", "Requests waiting in the queue (not yet running)"},
    {"kestrel_queue_depth", "gauge", "Requests waiting in the queue (not yet running)"},
    {"kestrel_batch_size", "histogram", "Batch rows per model execution"},
    {"kestrel_model_ready", "gauge", "1 when the model version is loaded and serving"},
}};

void add_sample(std::string& out, std::string_view name, const std::string& labels, uint64_t value) {
  out.append(name).append("{").append(labels).append("} ").append(std::to_string(value)).append("\n");
}

uint64_t load(const std::atomic<uint64_t>& value) { return value.load(std::memory_order_relaxed); }

// A label value as Prometheus reads it: backslash, quote and newline escaped.
std::string escape_label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

ModelMetrics::ModelMetrics(const std::string& model, const std::string& version)
    : labels_("model=\"" + escape_label(model) + "\",version=\"" + escape_label(version) + "\"") {}

void ModelMetrics::record_success(int64_t rows, std::chrono::microseconds request, std::chrono::microseconds queue,
                                  std::chrono::microseconds compute) {
  success_.fetch_add(1, std::memory_order_relaxed);
  inference_count_.fetch_add(static_cast<uint64_t>(rows), std::memory_order_relaxed);
  request_us_.fetch_add(static_cast<uint64_t>(request.count()), std::memory_order_relaxed);
  queue_us_.fetch_add(static_cast<uint64_t>(queue.count()), std::memory_order_relaxed);
  compute_us_.fetch_add(static_cast<uint64_t>(compute.count()), std::memory_order_relaxed);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  last_inference_ms_.store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()),
                           std::memory_order_relaxed);
}

ModelMetrics::Totals ModelMetrics::totals() const {
  return {.success = load(success_),
          .failure = load(failure_),
          .inference_count = load(inference_count_),
          .exec_count = load(exec_count_),
          .request_us = load(request_us_),
          .queue_us = load(queue_us_),
          .compute_us = load(compute_us_),
          .last_inference_ms = load(last_inference_ms_)};
}

void ModelMetrics::record_execution(int64_t rows) {
  exec_count_.fetch_add(1, std::memory_order_relaxed);
  batch_rows_sum_.fetch_add(static_cast<uint64_t>(rows), std::memory_order_relaxed);
  size_t bucket = 0;
  while (bucket < kBatchBuckets.size() && rows > kBatchBuckets[bucket]) ++bucket;
  batch_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
}

void ModelMetrics::append_samples(std::array<std::string, kMetricFamilyCount>& families) const {
  const std::string& labels = labels_;
  const Totals t = totals();
  const uint64_t counters[] = {t.success,    t.failure,  t.inference_count, t.exec_count,
                               t.request_us, t.queue_us, t.compute_us};
  for (size_t i = 0; i < std::size(counters); ++i) add_sample(families[i], kFamilies[i].name, labels, counters[i]);
  bool ready = false;
  uint64_t depth = 0;
  {
    const std::lock_guard lock(owner_mutex_);
    ready = owner_ != nullptr;
    if (queue_depth_) depth = queue_depth_();
  }
  add_sample(families[7], kFamilies[7].name, labels, depth);
  add_sample(families[8], kFamilies[8].name, labels, depth);
  std::string& histogram = families[9];
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBatchBuckets.size(); ++i) {
    cumulative += load(batch_buckets_[i]);
    add_sample(histogram, "kestrel_batch_size_bucket", labels + ",le=\"" + std::to_string(kBatchBuckets[i]) + "\"",
               cumulative);
  }
  cumulative += load(batch_buckets_.back());
  add_sample(histogram, "kestrel_batch_size_bucket", labels + ",le=\"+Inf\"", cumulative);
  add_sample(histogram, "kestrel_batch_size_sum", labels, load(batch_rows_sum_));
  add_sample(histogram, "kestrel_batch_size_count", labels, cumulative);
  add_sample(families[10], kFamilies[10].name, labels, ready ? 1 : 0);
}

void ModelMetrics::attach(const void* owner, std::function<size_t()> source) {
  const std::lock_guard lock(owner_mutex_);
  owner_ = owner;
  queue_depth_ = std::move(source);
}

void ModelMetrics::detach(const void* owner) {
  const std::lock_guard lock(owner_mutex_);
  if (owner_ != owner) return;
  owner_ = nullptr;
  queue_depth_ = nullptr;
}

ModelMetrics& MetricsRegistry::add(const std::string& model, const std::string& version) {
  const std::lock_guard lock(mutex_);
  return models_
      .try_emplace(std::pair(model, version), model, version)  // constructed only when new
      .first->second;
}

std::string MetricsRegistry::render() const {
  std::array<std::string, kMetricFamilyCount> families;
  {
    const std::lock_guard lock(mutex_);
    for (const auto& [key, model] : models_) model.append_samples(families);
  }
  std::string out;
  for (size_t i = 0; i < kFamilies.size(); ++i) {
    out.append("# HELP ").append(kFamilies[i].name).append(" ").append(kFamilies[i].help).append("\n");
    out.append("# TYPE ").append(kFamilies[i].name).append(" ").append(kFamilies[i].type).append("\n");
    out.append(families[i]);
  }
  return out;
}

}  // namespace kestrel::serve
