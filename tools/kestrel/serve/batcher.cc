#include "serve/batcher.h"

#include <algorithm>
#include <utility>

namespace kestrel::serve {
namespace {

std::chrono::microseconds micros_since(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration_cast<std::chrono::microseconds>(end - start);
}

}  // namespace

void InferRequest::complete(Status result) {
  {
    const std::lock_guard lock(mutex_);
    if (done_) return;
    status_ = std::move(result);
    done_ = true;
  }
  done_cv_.notify_all();
}

bool InferRequest::wait_until(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  return done_cv_.wait_until(lock, until, [&] { return done_; });
}

Batcher::Batcher(const Options& options, Runner runner)
    : options_(options), runner_(std::move(runner)), ring_(std::max<size_t>(options.max_queue, 1)) {
  const size_t max_requests = static_cast<size_t>(std::max<int64_t>(options_.max_batch, 1));
  workers_.resize(std::max<size_t>(options_.workers, 1));
  for (Worker& worker : workers_) {
    worker.batch.reserve(max_requests);
    worker.view.reserve(max_requests);
    worker.dropped.reserve(ring_.size());
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i].thread = std::thread([this, i] { worker_loop(workers_[i], i); });
  }
}

Batcher::~Batcher() { shutdown(); }

Batcher::Admission Batcher::submit(std::shared_ptr<InferRequest> request) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return Admission::kStopped;
    if (size_ >= options_.max_queue) return Admission::kQueueFull;
    request->enqueued = Clock::now();
    if (last_arrival_ != Clock::time_point{}) gaps_[gap_count_++ % kGaps] = request->enqueued - last_arrival_;
    last_arrival_ = request->enqueued;
    queued_rows_ += request->rows;
    ring_[(head_ + size_) % ring_.size()] = std::move(request);
    ++size_;
  }
  fill_cv_.notify_one();
  work_cv_.notify_one();
  return Admission::kQueued;
}

void Batcher::shutdown() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  fill_cv_.notify_all();
  for (Worker& worker : workers_) {
    if (worker.thread.joinable()) worker.thread.join();
  }
}

size_t Batcher::queue_depth() const {
  const std::lock_guard lock(mutex_);
  return size_;
}

std::shared_ptr<InferRequest> Batcher::pop_front() {
  std::shared_ptr<InferRequest> request = std::move(ring_[head_]);
  head_ = (head_ + 1) % ring_.size();
  --size_;
  queued_rows_ -= request->rows;
  return request;
}

// The lower median of the recent gaps against the delay: waiting pays when
// most requests lately arrived within the delay of the one before (a burst
// after a batch counts as close, its one long gap does not outweigh it);
// with no gap seen yet, wait.
bool Batcher::arrivals_close() const {
  const size_t count = std::min(gap_count_, kGaps);
  if (count == 0) return true;
  std::array<Clock::duration, kGaps> sorted = gaps_;
  const auto median = sorted.begin() + static_cast<std::ptrdiff_t>((count - 1) / 2);
  std::nth_element(sorted.begin(), median, sorted.begin() + static_cast<std::ptrdiff_t>(count));
  return *median < options_.max_queue_delay;
}

void Batcher::collect(std::unique_lock<std::mutex>& lock, Worker& worker) {
  const Clock::time_point deadline = front()->enqueued + options_.max_queue_delay;
  const bool wait = arrivals_close();
  while (wait && !stopping_ && queued_rows_ < options_.max_batch && Clock::now() < deadline) {
    fill_cv_.wait_until(lock, deadline);
  }
  // The oldest request always goes; the next ones while their rows fit.
  const Clock::time_point now = Clock::now();
  int64_t rows = 0;
  while (size_ > 0 && (worker.batch.empty() || rows + front()->rows <= options_.max_batch)) {
    std::shared_ptr<InferRequest> request = pop_front();
    if (request->cancelled.load() || now > request->deadline) {
      request->expired.store(true);
      worker.dropped.push_back(std::move(request));
      continue;
    }
    rows += request->rows;
    request->queue_time = micros_since(request->enqueued, now);
    worker.batch.push_back(std::move(request));
  }
}

void Batcher::run_batch(Worker& worker, size_t index) {
  for (const std::shared_ptr<InferRequest>& request : worker.dropped) {
    request->complete(Status(StatusCode::kInvalidArgument, "request timed out in the queue"));
  }
  worker.dropped.clear();
  if (worker.batch.empty()) return;
  worker.view.clear();
  for (const std::shared_ptr<InferRequest>& request : worker.batch) worker.view.push_back(request.get());
  const Clock::time_point start = Clock::now();
  Status status;
  try {
    status = runner_(index, worker.view);
  } catch (const std::exception& error) {
    status = internal_error("inference failed: ", error.what());
  }
  const std::chrono::microseconds compute = micros_since(start, Clock::now());
  for (const std::shared_ptr<InferRequest>& request : worker.batch) {
    request->compute_time = compute;
    request->complete(status);
  }
  worker.batch.clear();  // releases the requests: their owners may be gone
}

Status Batcher::ready() {
  std::unique_lock lock(mutex_);
  setup_cv_.wait(lock, [&] { return set_up_ == workers_.size(); });
  return setup_status_;
}

void Batcher::worker_loop(Worker& worker, size_t index) {
  const Status set_up = options_.setup ? options_.setup(index) : Status();
  std::unique_lock lock(mutex_);
  if (!set_up.ok() && setup_status_.ok()) setup_status_ = set_up;
  ++set_up_;
  setup_cv_.notify_all();
  if (!set_up.ok()) return;
  for (;;) {
    work_cv_.wait(lock, [&] { return !collecting_ && (size_ > 0 || stopping_); });
    if (size_ == 0) return;  // stopping, and nothing left to run
    collecting_ = true;
    collect(lock, worker);
    collecting_ = false;
    if (size_ > 0) work_cv_.notify_one();
    if (stopping_) work_cv_.notify_all();
    lock.unlock();
    run_batch(worker, index);
    lock.lock();
  }
}

}  // namespace kestrel::serve
