// One model shared by several sessions on several threads, through the C
// API: every output must equal, bit for bit, a single-threaded reference run
// of the same input. Sessions are also destroyed and re-created while the
// others run. Also the run for scripts/tsan.sh (which makes it shorter with
// KESTREL_STRESS_RUNS).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "api_test_util.h"

namespace kestrel::testing {
namespace {

constexpr int kThreads = 4;
constexpr int kDistinctInputs = 64;
constexpr int64_t kDefaultRunsPerThread = 2500;
// Each thread replaces its session this often, so creation races with runs.
constexpr int64_t kRecreateEvery = 500;

int64_t runs_per_thread() {
  const char* env = std::getenv("KESTREL_STRESS_RUNS");
  return env ? std::max<int64_t>(1, std::strtoll(env, nullptr, 10)) : kDefaultRunsPerThread;
}

struct Shared {
  const kestrel_model_t* model = nullptr;
  kestrel_tensor_info_t in{}, out{};
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<uint8_t>> expected;
  int64_t runs = 0;
  std::atomic<int64_t> done{0}, mismatches{0};
  std::mutex failure_mutex;
  std::string first_failure;

  void fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(failure_mutex);
    if (first_failure.empty()) first_failure = what;
  }
};

kestrel_session_t* new_session(Shared& shared) {
  kestrel_session_options_t* options = nullptr;
  kestrel_session_t* session = nullptr;
  // One thread per session: four sessions on two cores are already
  // oversubscribed (docs/api.md, "Threads").
  if (kestrel_session_options_create(&options) != KESTREL_OK ||
      kestrel_session_options_set_threads(options, 1) != KESTREL_OK ||
      kestrel_session_create(shared.model, options, &session) != KESTREL_OK) {
    shared.fail(std::string("creating a session: ") + kestrel_last_error());
  }
  kestrel_session_options_destroy(options);
  return session;
}

// Even threads run on their own buffers through kestrel_session_run, odd
// threads fill the session's buffers and call kestrel_session_run_simple.
bool run_once(Shared& shared, kestrel_session_t* session, int thread, size_t index, std::vector<uint8_t>& output) {
  const std::vector<float>& input = shared.inputs[index];
  if (thread % 2 == 0) {
    const kestrel_tensor_t in{
        shared.in.name, shared.in.dtype, shared.in.dims, shared.in.rank, const_cast<float*>(input.data()),
        shared.in.bytes};
    kestrel_tensor_t out{shared.out.name, shared.out.dtype, shared.out.dims,
                         shared.out.rank, output.data(),    shared.out.bytes};
    return kestrel_session_run(session, &in, 1, &out, 1) == KESTREL_OK;
  }
  void* own_input = nullptr;
  const void* own_output = nullptr;
  size_t bytes = 0;
  if (kestrel_session_input_buffer(session, 0, &own_input, &bytes) != KESTREL_OK) return false;
  std::memcpy(own_input, input.data(), bytes);
  if (kestrel_session_run_simple(session) != KESTREL_OK) return false;
  if (kestrel_session_output_buffer(session, 0, &own_output, &bytes) != KESTREL_OK) return false;
  std::memcpy(output.data(), own_output, bytes);
  return true;
}

void worker(Shared& shared, int thread) {
  kestrel_session_t* session = new_session(shared);
  std::vector<uint8_t> output(shared.out.bytes);
  for (int64_t run = 0; run < shared.runs && session != nullptr; ++run) {
    if (run > 0 && run % kRecreateEvery == 0) {
      kestrel_session_destroy(session);
      session = new_session(shared);
      if (session == nullptr) break;
    }
    // Threads start a quarter of the inputs apart: at any moment they run different images.
    const size_t index = static_cast<size_t>(run + thread * (kDistinctInputs / kThreads)) % shared.inputs.size();
    if (!run_once(shared, session, thread, index, output)) {
      shared.fail(str_cat("thread ", thread, " run ", run, ": ", kestrel_last_error()));
      break;
    }
    if (output != shared.expected[index]) {
      shared.mismatches.fetch_add(1);
      shared.fail(
          str_cat("thread ", thread, " run ", run, ": output for input ", index, " differs from the reference"));
    }
    shared.done.fetch_add(1);
  }
  kestrel_session_destroy(session);
}

void stress(const std::string& precision) {
  SCOPED_TRACE(precision);
  // Threads inherit this thread's affinity; an earlier test in this process
  // may have pinned it to one core (see unpin_current_thread).
  unpin_current_thread();
  const std::string path = cnn_model(precision);
  kestrel_model_t* model = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_load(path.c_str(), &model));
  Shared shared;
  shared.model = model;
  shared.runs = runs_per_thread();
  ASSERT_KESTREL_OK(kestrel_model_input_info(model, 0, &shared.in));
  ASSERT_KESTREL_OK(kestrel_model_output_info(model, 0, &shared.out));
  shared.inputs = cnn_inputs(kDistinctInputs);
  ASSERT_EQ(shared.inputs.size(), static_cast<size_t>(kDistinctInputs));
  ReferenceRunner reference(path);
  ASSERT_TRUE(reference.ok());
  for (const std::vector<float>& input : shared.inputs) shared.expected.push_back(reference.run(input));

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, std::ref(shared), t);
  for (std::thread& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %d sessions on %d threads, one model, %lld runs in %.2f s (%.0f runs/s), %lld mismatches\n",
              precision.c_str(), kThreads, kThreads, static_cast<long long>(shared.done.load()), seconds,
              static_cast<double>(shared.done.load()) / seconds, static_cast<long long>(shared.mismatches.load()));
  EXPECT_TRUE(shared.first_failure.empty()) << shared.first_failure;
  EXPECT_EQ(shared.mismatches.load(), 0);
  EXPECT_EQ(shared.done.load(), kThreads * shared.runs);
  kestrel_model_destroy(model);
}

TEST(Concurrency, Int8ModelSharedByFourSessionsIsBitExact) { stress("int8"); }

TEST(Concurrency, Fp32ModelSharedByFourSessionsIsBitExact) { stress("fp32"); }

// Misuse: one session run from two threads at once. Each call either runs or
// is refused with a message; the session still gives the right answer after.
TEST(Concurrency, OneSessionRunFromTwoThreadsIsRefusedNotCorrupted) {
  unpin_current_thread();
  kestrel_model_t* model = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_load(cnn_model("int8").c_str(), &model));
  Shared shared;
  shared.model = model;
  kestrel_session_t* session = new_session(shared);
  ASSERT_NE(session, nullptr) << shared.first_failure;
  // Two threads call run on the one session until the guard has refused at
  // least one call (overlap is all but certain within the first round; the
  // rounds are a bound, not a hope), so the refusal path is really taken.
  constexpr int kCalls = 2000;
  constexpr int kMaxRounds = 50;
  std::atomic<int> refused{0}, wrong{0};
  auto hammer = [&] {
    for (int i = 0; i < kCalls; ++i) {
      const kestrel_status_t status = kestrel_session_run_simple(session);
      if (status == KESTREL_OK) continue;
      const bool refusal = status == KESTREL_INVALID_ARGUMENT &&
                           std::string(kestrel_last_error()).find("already running") != std::string::npos;
      (refusal ? refused : wrong).fetch_add(1);
    }
  };
  int rounds = 0;
  while (refused.load() == 0 && rounds < kMaxRounds) {
    std::thread first(hammer), second(hammer);
    first.join();
    second.join();
    ++rounds;
  }
  std::printf("%d of %d concurrent runs of one session were refused (%d rounds)\n", refused.load(), 2 * kCalls * rounds,
              rounds);
  EXPECT_GT(refused.load(), 0) << "no call was ever refused: the busy guard was not exercised";
  EXPECT_EQ(wrong.load(), 0);

  const std::vector<std::vector<float>> inputs = cnn_inputs(1);
  ASSERT_EQ(inputs.size(), 1u);
  ReferenceRunner reference(cnn_model("int8"));
  void* input = nullptr;
  const void* output = nullptr;
  size_t bytes = 0;
  ASSERT_KESTREL_OK(kestrel_session_input_buffer(session, 0, &input, &bytes));
  std::memcpy(input, inputs[0].data(), bytes);
  ASSERT_KESTREL_OK(kestrel_session_run_simple(session));
  ASSERT_KESTREL_OK(kestrel_session_output_buffer(session, 0, &output, &bytes));
  const auto* result = static_cast<const uint8_t*>(output);
  EXPECT_EQ(std::vector<uint8_t>(result, result + bytes), reference.run(inputs[0]));
  kestrel_session_destroy(session);
  kestrel_model_destroy(model);
}

}  // namespace
}  // namespace kestrel::testing
