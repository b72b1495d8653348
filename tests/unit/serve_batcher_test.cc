// kestrel serve's dynamic batcher on a fake runner: every request gets its
// own result back from many threads, batches never exceed the max, the queue
// delay is waited for (and not when the batch is full, or when requests come
// further apart than it), a full queue refuses
// at once, shutdown runs what is queued.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <latch>
#include <map>
#include <thread>
#include <vector>

#include "serve/batcher.h"

namespace kestrel::serve {
namespace {

using namespace std::chrono_literals;

// A request of `rows` int32 rows all holding `value`.
std::shared_ptr<InferRequest> make_request(int32_t value, int64_t rows = 1) {
  auto request = std::make_shared<InferRequest>();
  request->rows = rows;
  request->inputs.emplace_back(sizeof(int32_t) * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(request->inputs[0].data() + r * sizeof(int32_t), &value, sizeof(value));
  request->outputs.emplace_back(sizeof(int32_t) * static_cast<size_t>(rows));
  return request;
}

int32_t row_value(const std::vector<std::byte>& buffer, int64_t row) {
  int32_t value = 0;
  std::memcpy(&value, buffer.data() + row * sizeof(int32_t), sizeof(value));
  return value;
}

// output = 2 * input + 1, per row; records the largest batch.
struct FakeModel {
  std::atomic<int64_t> max_rows{0};
  std::atomic<int64_t> runs{0};
  std::atomic<int64_t> multi_request_runs{0};
  std::chrono::microseconds work{0};

  Batcher::Runner runner() {
    return [this](size_t, std::span<InferRequest* const> batch) {
      int64_t rows = 0;
      for (InferRequest* request : batch) {
        rows += request->rows;
        for (int64_t r = 0; r < request->rows; ++r) {
          const int32_t value = 2 * row_value(request->inputs[0], r) + 1;
          std::memcpy(request->outputs[0].data() + r * sizeof(int32_t), &value, sizeof(value));
        }
      }
      int64_t seen = max_rows.load();
      while (rows > seen && !max_rows.compare_exchange_weak(seen, rows)) {
      }
      runs.fetch_add(1);
      if (batch.size() > 1) multi_request_runs.fetch_add(1);
      std::this_thread::sleep_for(work);
      return Status();
    };
  }
};

TEST(ServeBatcher, EveryRequestGetsItsOwnResultFromManyThreads) {
  FakeModel model;
  model.work = 2ms;  // long enough for requests to pile up behind a run
  Batcher batcher({.max_batch = 4, .max_queue_delay = 1ms, .max_queue = 256, .workers = 2}, model.runner());
  constexpr int kThreads = 8, kPerThread = 40;
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> clients;
  clients.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int32_t value = t * 1000 + i;
        const int64_t rows = 1 + (i % 2);
        auto request = make_request(value, rows);
        if (batcher.submit(request) != Batcher::Admission::kQueued || !request->wait_until(Clock::now() + 10s) ||
            !request->status().ok()) {
          failed.fetch_add(1);
          continue;
        }
        for (int64_t r = 0; r < rows; ++r) {
          if (row_value(request->outputs[0], r) != 2 * value + 1) wrong.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(model.max_rows.load(), 4);
  EXPECT_GT(model.multi_request_runs.load(), 0) << "no batch held two requests in " << model.runs.load() << " runs";
  EXPECT_LT(model.runs.load(), kThreads * kPerThread);
}

TEST(ServeBatcher, WaitsTheQueueDelayForABatchToFill) {
  FakeModel model;
  Batcher batcher({.max_batch = 8, .max_queue_delay = 100ms, .max_queue = 16, .workers = 1}, model.runner());
  auto request = make_request(7);
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(batcher.submit(request), Batcher::Admission::kQueued);
  ASSERT_TRUE(request->wait_until(start + 10s));
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 95ms);
  EXPECT_LT(waited, 5s);
  EXPECT_GE(request->queue_time, 95ms);
  EXPECT_EQ(row_value(request->outputs[0], 0), 15);
}

// A lone client: once requests have come further apart than the delay, they
// run at once. The first has no gap to judge by, and waits.
TEST(ServeBatcher, RequestsFurtherApartThanTheDelayRunAtOnce) {
  FakeModel model;
  Batcher batcher({.max_batch = 8, .max_queue_delay = 100ms, .max_queue = 16, .workers = 1}, model.runner());
  for (int32_t i = 0; i < 4; ++i) {
    auto request = make_request(i);
    ASSERT_EQ(batcher.submit(request), Batcher::Admission::kQueued);
    ASSERT_TRUE(request->wait_until(Clock::now() + 10s));
    EXPECT_EQ(row_value(request->outputs[0], 0), 2 * i + 1);
    if (i == 0) {
      EXPECT_GE(request->queue_time, 95ms);
    } else {
      EXPECT_LT(request->queue_time, 50ms) << "request " << i << " waited for a batch";
    }
    std::this_thread::sleep_for(120ms);
  }
  EXPECT_EQ(model.runs.load(), 4);
}

TEST(ServeBatcher, AFullBatchRunsWithoutWaitingTheDelay) {
  FakeModel model;
  Batcher batcher({.max_batch = 3, .max_queue_delay = 20s, .max_queue = 16, .workers = 1}, model.runner());
  auto first = make_request(1, 2);
  auto second = make_request(2, 1);
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(batcher.submit(first), Batcher::Admission::kQueued);
  ASSERT_EQ(batcher.submit(second), Batcher::Admission::kQueued);
  ASSERT_TRUE(first->wait_until(start + 10s));
  ASSERT_TRUE(second->wait_until(start + 10s));
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(model.runs.load(), 1);
  EXPECT_EQ(model.max_rows.load(), 3);
}

TEST(ServeBatcher, RequestsThatDoNotFitTogetherRunApart) {
  FakeModel model;
  Batcher batcher({.max_batch = 4, .max_queue_delay = 50ms, .max_queue = 16, .workers = 1}, model.runner());
  auto a = make_request(1, 3);
  auto b = make_request(2, 3);
  auto big = make_request(3, 6);  // more rows than max_batch: runs, alone
  for (const auto& request : {a, b, big}) ASSERT_EQ(batcher.submit(request), Batcher::Admission::kQueued);
  for (const auto& request : {a, b, big}) {
    ASSERT_TRUE(request->wait_until(Clock::now() + 10s));
    EXPECT_TRUE(request->status().ok());
  }
  EXPECT_EQ(model.runs.load(), 3);
  EXPECT_EQ(row_value(big->outputs[0], 5), 7);
}

// Each worker's setup runs on the thread that then runs its batches (where
// the server creates that worker's session), before any batch; a failing
// setup is what ready() reports.
TEST(ServeBatcher, SetupRunsOnEachWorkersOwnThreadBeforeItsBatches) {
  std::mutex mutex;
  std::map<size_t, std::thread::id> set_up_on, ran_on;
  Batcher batcher({.max_batch = 1,
                   .max_queue_delay = 0us,
                   .workers = 2,
                   .setup =
                       [&](size_t worker) {
                         const std::lock_guard lock(mutex);
                         set_up_on[worker] = std::this_thread::get_id();
                         return Status();
                       }},
                  [&](size_t worker, std::span<InferRequest* const>) {
                    const std::lock_guard lock(mutex);
                    EXPECT_TRUE(set_up_on.count(worker)) << "a batch ran before its worker's setup";
                    ran_on[worker] = std::this_thread::get_id();
                    return Status();
                  });
  ASSERT_TRUE(batcher.ready().ok());
  EXPECT_EQ(set_up_on.size(), 2u);
  EXPECT_NE(set_up_on[0], set_up_on[1]);
  EXPECT_NE(set_up_on[0], std::this_thread::get_id());
  std::vector<std::shared_ptr<InferRequest>> requests;
  for (int i = 0; i < 16; ++i) {
    requests.push_back(make_request(i));
    ASSERT_EQ(batcher.submit(requests.back()), Batcher::Admission::kQueued);
  }
  for (const auto& request : requests) ASSERT_TRUE(request->wait_until(Clock::now() + 10s));
  const std::lock_guard lock(mutex);
  for (const auto& [worker, thread] : ran_on) EXPECT_EQ(thread, set_up_on[worker]) << "worker " << worker;

  Batcher failing(
      {.workers = 2,
       .setup = [](size_t worker) { return worker == 1 ? invalid_argument("session ", worker, " failed") : Status(); }},
      [](size_t, std::span<InferRequest* const>) { return Status(); });
  const Status ready = failing.ready();
  ASSERT_FALSE(ready.ok());
  EXPECT_EQ(ready.message(), "session 1 failed");
}

TEST(ServeBatcher, AFullQueueRefusesAtOnce) {
  std::latch entered(1), release(1);
  std::atomic<int> runs{0};
  Batcher batcher({.max_batch = 1, .max_queue_delay = 0us, .max_queue = 2, .workers = 1},
                  [&](size_t, std::span<InferRequest* const>) {
                    if (runs.fetch_add(1) == 0) {
                      entered.count_down();
                      release.wait();
                    }
                    return Status();
                  });
  auto running = make_request(0);
  ASSERT_EQ(batcher.submit(running), Batcher::Admission::kQueued);
  entered.wait();  // the worker holds it: the queue is empty again
  auto queued1 = make_request(1), queued2 = make_request(2), refused = make_request(3);
  EXPECT_EQ(batcher.submit(queued1), Batcher::Admission::kQueued);
  EXPECT_EQ(batcher.submit(queued2), Batcher::Admission::kQueued);
  EXPECT_EQ(batcher.queue_depth(), 2u);
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(batcher.submit(refused), Batcher::Admission::kQueueFull);
  EXPECT_LT(Clock::now() - start, 1s);
  release.count_down();
  for (const auto& request : {running, queued1, queued2}) {
    ASSERT_TRUE(request->wait_until(Clock::now() + 10s));
    EXPECT_TRUE(request->status().ok());
  }
  EXPECT_EQ(runs.load(), 3);
}

TEST(ServeBatcher, ShutdownRunsWhatIsQueuedThenRefuses) {
  FakeModel model;
  auto batcher = std::make_unique<Batcher>(
      Batcher::Options{.max_batch = 4, .max_queue_delay = 20s, .max_queue = 16, .workers = 2}, model.runner());
  auto request = make_request(5);
  ASSERT_EQ(batcher->submit(request), Batcher::Admission::kQueued);
  const Clock::time_point start = Clock::now();
  batcher->shutdown();  // does not wait out the 20 s delay
  EXPECT_LT(Clock::now() - start, 5s);
  ASSERT_TRUE(request->wait_until(Clock::now()));
  EXPECT_TRUE(request->status().ok());
  EXPECT_EQ(row_value(request->outputs[0], 0), 11);
  EXPECT_EQ(batcher->submit(make_request(6)), Batcher::Admission::kStopped);
}

TEST(ServeBatcher, DropsRequestsPastTheirDeadlineUnrun) {
  FakeModel model;
  Batcher batcher({.max_batch = 4, .max_queue_delay = 50ms, .max_queue = 16, .workers = 1}, model.runner());
  auto late = make_request(1);
  late->deadline = Clock::now() + 10ms;  // passes while it waits for the batch to fill
  ASSERT_EQ(batcher.submit(late), Batcher::Admission::kQueued);
  ASSERT_TRUE(late->wait_until(Clock::now() + 10s));
  EXPECT_TRUE(late->expired.load());
  EXPECT_FALSE(late->status().ok());
  EXPECT_EQ(model.runs.load(), 0);
}

}  // namespace
}  // namespace kestrel::serve
