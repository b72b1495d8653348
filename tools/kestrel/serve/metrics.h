// Prometheus text metrics, under Triton's names where Triton has one
// (nv_inference_*), so dashboards made for Triton read Kestrel too.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace kestrel::serve {

// Metric families in the exposition (their names are in metrics.cc).
inline constexpr size_t kMetricFamilyCount = 11;

// The counters of one model version; updated lock-free from any thread.
class ModelMetrics {
 public:
  // Upper bounds of the batch-size histogram's buckets (then +Inf).
  static constexpr std::array<int64_t, 8> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128};

  ModelMetrics(const std::string& model, const std::string& version);

  // A request answered 200: its rows and where its time went.
  void record_success(int64_t rows, std::chrono::microseconds request, std::chrono::microseconds queue,
                      std::chrono::microseconds compute);
  void record_failure() { failure_.fetch_add(1, std::memory_order_relaxed); }
  // One run of the model on `rows` batch rows.
  void record_execution(int64_t rows);
  // The model version `owner` now serves under these labels: ready, with its
  // queue depth from `source`. detach(owner) ends that (a later owner, after
  // a reload, is left alone).
  void attach(const void* owner, std::function<size_t()> source);
  void detach(const void* owner);

  // The counters as they stand (for the statistics endpoint).
  struct Totals {
    uint64_t success = 0, failure = 0, inference_count = 0, exec_count = 0;
    uint64_t request_us = 0, queue_us = 0, compute_us = 0;
    uint64_t last_inference_ms = 0;  // since the Unix epoch; 0 before the first
  };
  Totals totals() const;

  // Appends this model's samples of every metric family to `families`, one
  // string per family (in the order of kFamilies in metrics.cc).
  void append_samples(std::array<std::string, kMetricFamilyCount>& families) const;

 private:
  std::string labels_;  // model="...",version="..."
  std::atomic<uint64_t> success_{0}, failure_{0}, inference_count_{0}, exec_count_{0};
  std::atomic<uint64_t> request_us_{0}, queue_us_{0}, compute_us_{0};
  std::array<std::atomic<uint64_t>, kBatchBuckets.size() + 1> batch_buckets_{};  // not cumulative; last: +Inf
  std::atomic<uint64_t> batch_rows_sum_{0};
  std::atomic<uint64_t> last_inference_ms_{0};
  mutable std::mutex owner_mutex_;  // guards owner_ and queue_depth_
  const void* owner_ = nullptr;
  std::function<size_t()> queue_depth_;
};

class MetricsRegistry {
 public:
  // Stable for the registry's life; the same counters again for a model
  // version loaded again.
  ModelMetrics& add(const std::string& model, const std::string& version);
  // The Prometheus text exposition (format 0.0.4).
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, ModelMetrics> models_;  // by (model, version); nodes stay put
};

}  // namespace kestrel::serve
