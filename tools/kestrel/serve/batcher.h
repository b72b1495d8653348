// Dynamic batching: requests of one model queue here; a pool of workers (one
// per session) takes up to `max_batch` rows of them at a time, waiting at most
// `max_queue_delay` after the oldest one arrived for more to join, and hands
// each batch to the runner. The wait is skipped while requests arrive further
// apart than the delay (a lone client is not kept waiting for a batch that
// will not come). The queue is bounded: a full queue refuses a
// request at once instead of growing.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "base/status.h"

namespace kestrel::serve {

using Clock = std::chrono::steady_clock;

// One queued request: its inputs in, its outputs out (both sized by whoever
// makes it, so the workers allocate nothing), and a completion to wait on.
struct InferRequest {
  int64_t rows = 1;                             // its batch rows (dim 0)
  std::vector<std::vector<std::byte>> inputs;   // one per model input
  std::vector<std::vector<std::byte>> outputs;  // one per model output
  Clock::time_point enqueued;
  Clock::time_point deadline = Clock::time_point::max();  // dropped unrun after this
  std::chrono::microseconds queue_time{0}, compute_time{0};
  std::atomic<bool> cancelled{false};  // the client stopped waiting
  std::atomic<bool> expired{false};    // dropped unrun: cancelled or past its deadline

  // Sets the result and wakes the waiter (once).
  void complete(Status result);
  // True when completed before `until`; then status() is the result.
  bool wait_until(Clock::time_point until);
  const Status& status() const { return status_; }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  Status status_;
};

class Batcher {
 public:
  struct Options {
    int64_t max_batch = 1;  // rows per run; a request with more rows still runs, alone
    std::chrono::microseconds max_queue_delay{500};
    size_t max_queue = 256;  // pending (not yet running) requests
    size_t workers = 1;
    // Run first on each worker's own thread (e.g. to create the session it
    // runs: a session runs fastest on the thread that created it, see
    // docs/api.md "Threads"). ready() reports the first failure.
    std::function<Status(size_t worker)> setup;
  };
  // Runs one batch on worker `worker`'s own resources; the batch's requests
  // are in arrival order. An error fails every request of the batch.
  using Runner = std::function<Status(size_t worker, std::span<InferRequest* const> batch)>;

  enum class Admission { kQueued, kQueueFull, kStopped };

  Batcher(const Options& options, Runner runner);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Never blocks: queues the request or says why not.
  Admission submit(std::shared_ptr<InferRequest> request);
  // Waits until every worker's setup has run; the first error, if any.
  Status ready();
  // Refuses new requests, runs every queued one, joins the workers.
  void shutdown();
  size_t queue_depth() const;
  const Options& options() const { return options_; }

 private:
  struct Worker {
    std::vector<std::shared_ptr<InferRequest>> batch, dropped;
    std::vector<InferRequest*> view;
    std::thread thread;
  };

  void worker_loop(Worker& worker, size_t index);
  // With the lock held: waits for the batch to fill or the delay to pass,
  // then moves it out of the queue.
  void collect(std::unique_lock<std::mutex>& lock, Worker& worker);
  void run_batch(Worker& worker, size_t index);
  std::shared_ptr<InferRequest>& front() { return ring_[head_]; }
  std::shared_ptr<InferRequest> pop_front();
  // With the lock held: whether more requests are likely within the queue
  // delay, judged by the recent gaps between arrivals.
  bool arrivals_close() const;

  const Options options_;
  const Runner runner_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;                  // idle workers: something to collect
  std::condition_variable fill_cv_;                  // the collecting worker: a request arrived
  std::vector<std::shared_ptr<InferRequest>> ring_;  // the queue, fixed capacity
  size_t head_ = 0, size_ = 0;
  int64_t queued_rows_ = 0;
  bool collecting_ = false;  // one worker forms a batch at a time
  // The gaps between the last kGaps + 1 arrivals (a ring), for arrivals_close().
  static constexpr size_t kGaps = 8;
  std::array<Clock::duration, kGaps> gaps_{};
  size_t gap_count_ = 0;
  Clock::time_point last_arrival_{};
  bool stopping_ = false;
  size_t set_up_ = 0;  // workers whose setup has run
  Status setup_status_;
  std::condition_variable setup_cv_;
  std::vector<Worker> workers_;
};

}  // namespace kestrel::serve
