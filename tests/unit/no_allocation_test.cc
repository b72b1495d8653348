// Session::run() allocates no tensors: the arena, primitives and scratchpads
// are all set up at creation. Counted through the global operator new and
// the C allocation functions Kestrel's tensors and arenas use (aligned_alloc,
// posix_memalign, memalign) of this test binary. oneDNN 2.x itself allocates a few small objects inside every
// primitive execution (its per-call argument map), which this test bounds
// per node and requires to be the same on every run; Kestrel's own code on
// the fast path adds none.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include <kestrel/kestrel.h>

#include "frontend/onnx/onnx_importer.h"
#include "passes/compile.h"
#include "passes/shape_inference.h"
#include "runtime/session.h"
#include "test_paths.h"

namespace {
std::atomic<int64_t> allocations{0};
}  // namespace

// This file replaces operator new/delete with malloc/free as a pair; GCC,
// seeing the replacement's free inlined next to a new expression, warns of
// a mismatch that is not one.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

// Tensors come from aligned_alloc, not operator new: count those too. The
// definitions here take precedence over libc's for the whole process
// (static libraries and shared ones alike) and forward to glibc's memalign.
extern "C" void* __libc_memalign(size_t alignment, size_t size);  // NOLINT: glibc's exported implementation
extern "C" void* aligned_alloc(size_t alignment, size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
extern "C" void* memalign(size_t alignment, size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
extern "C" int posix_memalign(void** out, size_t alignment, size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace kestrel::testing {
namespace {

// oneDNN 2.x builds its argument map on every execute.
constexpr int64_t kMaxLibraryAllocationsPerNode = 10;

void expect_bounded_allocations(const std::string& path, const Shape& shape) {
  KESTREL_REQUIRE_FILE(path);
  auto imported = import_onnx_file(path);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  Graph graph = std::move(imported).value();
  ASSERT_TRUE(set_input_shapes(graph, {{graph.value(graph.inputs[0]).name, shape}}).ok());
  auto compiled = compile_for_cpu(std::move(graph));
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  auto session = Session::create(std::make_shared<const Graph>(compiled->graph), compiled->plan, {.threads = 1});
  ASSERT_TRUE(session.ok()) << session.status().message();
  ASSERT_TRUE((*session)->run().ok());  // first run: lazy initialisation inside libraries is allowed
  std::vector<int64_t> per_run;
  for (int i = 0; i < 3; ++i) {
    const int64_t before = allocations.load();
    ASSERT_TRUE((*session)->run().ok());
    per_run.push_back(allocations.load() - before);
  }
  const int64_t nodes = static_cast<int64_t>((*session)->graph().nodes.size());
  std::printf("%s: %lld allocations per run for %lld nodes\n", path.c_str(), static_cast<long long>(per_run[0]),
              static_cast<long long>(nodes));
  EXPECT_EQ(per_run[0], per_run[1]);
  EXPECT_EQ(per_run[1], per_run[2]);
  EXPECT_LE(per_run[0], kMaxLibraryAllocationsPerNode * nodes);
}

// The counter sees the allocations a run could make: a tensor (aligned_alloc)
// and an operator new.
TEST(NoAllocation, CounterSeesTensorsAndNew) {
  const int64_t before = allocations.load();
  { const Tensor tensor(DType::kFloat32, {4, 4}); }
  EXPECT_GE(allocations.load() - before, 1) << "a Tensor's aligned_alloc was not counted";
  const int64_t middle = allocations.load();
  int* volatile escaped = new int(1);  // volatile: the compiler may not elide this pair
  delete escaped;
  EXPECT_EQ(allocations.load() - middle, 1);
}

TEST(NoAllocation, ResNet50RunAllocationsAreBoundedAndStable) {
  expect_bounded_allocations(test_model_path("resnet50.onnx"), {1, 3, 224, 224});
}

TEST(NoAllocation, BundledCnnRunAllocationsAreBoundedAndStable) {
  expect_bounded_allocations(source_path("models/fmnist_cnn.onnx"), {2, 1, 28, 28});
}

// The C API's run on caller buffers and on session buffers, INT8 model:
// bounded and stable the same way (the API itself adds nothing per call).
TEST(NoAllocation, CApiRunOnAnInt8Model) {
  KESTREL_REQUIRE_FILE(source_path("models/fmnist_cnn.onnx"));
  const std::string model_path = scratch_dir() + "/cnn_int8.kestrel";
  kestrel_convert_options_t* options = nullptr;
  ASSERT_EQ(kestrel_convert_options_create(&options), KESTREL_OK);
  kestrel_convert_options_set_model(options, source_path("models/fmnist_cnn.onnx").c_str());
  kestrel_convert_options_set_output(options, model_path.c_str());
  kestrel_convert_options_set_input_shape(options, "input:1,1,28,28");
  kestrel_convert_options_set_precision(options, "int8");
  kestrel_convert_options_set_calibration_data(options, fashion_mnist_path("train-images-idx3-ubyte.gz").c_str());
  kestrel_convert_options_set_preprocess(options, source_path("models/fmnist_cnn.preprocess.json").c_str());
  kestrel_convert_options_set_calibration_count(options, 32);
  ASSERT_EQ(kestrel_convert(options), KESTREL_OK) << kestrel_last_error();
  kestrel_convert_options_destroy(options);
  kestrel_model_t* model = nullptr;
  ASSERT_EQ(kestrel_model_load(model_path.c_str(), &model), KESTREL_OK) << kestrel_last_error();
  kestrel_session_options_t* session_options = nullptr;
  ASSERT_EQ(kestrel_session_options_create(&session_options), KESTREL_OK);
  kestrel_session_options_set_threads(session_options, 1);
  kestrel_session_t* session = nullptr;
  ASSERT_EQ(kestrel_session_create(model, session_options, &session), KESTREL_OK) << kestrel_last_error();
  std::vector<float> input(28 * 28, 0.5f), logits(10);
  const int64_t input_dims[] = {1, 1, 28, 28}, output_dims[] = {1, 10};
  const kestrel_tensor_t in{"input", KESTREL_DTYPE_FLOAT32, input_dims, 4, input.data(), input.size() * sizeof(float)};
  kestrel_tensor_t out{"logits", KESTREL_DTYPE_FLOAT32, output_dims, 2, logits.data(), logits.size() * sizeof(float)};
  ASSERT_EQ(kestrel_session_run(session, &in, 1, &out, 1), KESTREL_OK) << kestrel_last_error();
  std::vector<int64_t> caller_buffers, session_buffers;
  for (int i = 0; i < 3; ++i) {
    int64_t before = allocations.load();
    ASSERT_EQ(kestrel_session_run(session, &in, 1, &out, 1), KESTREL_OK);
    caller_buffers.push_back(allocations.load() - before);
    before = allocations.load();
    ASSERT_EQ(kestrel_session_run_simple(session), KESTREL_OK);
    session_buffers.push_back(allocations.load() - before);
  }
  std::printf("C API, int8 CNN: %lld / %lld allocations per run (caller / session buffers)\n",
              static_cast<long long>(caller_buffers[0]), static_cast<long long>(session_buffers[0]));
  EXPECT_EQ(caller_buffers[0], caller_buffers[2]);
  EXPECT_EQ(caller_buffers[0], session_buffers[0]);  // binding the caller's buffers costs no allocation
  EXPECT_EQ(session_buffers[1], session_buffers[2]);
  EXPECT_LE(session_buffers[0], kMaxLibraryAllocationsPerNode * 12);
  kestrel_session_destroy(session);
  kestrel_session_options_destroy(session_options);
  kestrel_model_destroy(model);
}

// A variable-batch model (convert --max-batch 4): a run at any batch costs
// what a run at the compiled batch does; the sessions of every batch exist
// before the first run.
TEST(NoAllocation, CApiVariableBatchRunsAllocateTheSameAtEveryBatch) {
  KESTREL_REQUIRE_FILE(source_path("models/fmnist_cnn.onnx"));
  const std::string model_path = scratch_dir() + "/cnn_b4.kestrel";
  kestrel_convert_options_t* options = nullptr;
  ASSERT_EQ(kestrel_convert_options_create(&options), KESTREL_OK);
  kestrel_convert_options_set_model(options, source_path("models/fmnist_cnn.onnx").c_str());
  kestrel_convert_options_set_output(options, model_path.c_str());
  kestrel_convert_options_set_max_batch(options, 4);
  ASSERT_EQ(kestrel_convert(options), KESTREL_OK) << kestrel_last_error();
  kestrel_convert_options_destroy(options);
  kestrel_model_t* model = nullptr;
  ASSERT_EQ(kestrel_model_load(model_path.c_str(), &model), KESTREL_OK) << kestrel_last_error();
  kestrel_session_options_t* session_options = nullptr;
  ASSERT_EQ(kestrel_session_options_create(&session_options), KESTREL_OK);
  kestrel_session_options_set_threads(session_options, 1);
  kestrel_session_t* session = nullptr;
  ASSERT_EQ(kestrel_session_create(model, session_options, &session), KESTREL_OK) << kestrel_last_error();
  std::vector<float> input(4 * 28 * 28, 0.5f), logits(4 * 10);
  auto run = [&](int64_t batch) {
    const int64_t input_dims[] = {batch, 1, 28, 28}, output_dims[] = {batch, 10};
    const kestrel_tensor_t in{"input", KESTREL_DTYPE_FLOAT32, input_dims,
                              4,       input.data(),          static_cast<size_t>(batch) * 28 * 28 * sizeof(float)};
    kestrel_tensor_t out{"logits", KESTREL_DTYPE_FLOAT32, output_dims,
                         2,        logits.data(),         static_cast<size_t>(batch) * 10 * sizeof(float)};
    const int64_t before = allocations.load();
    EXPECT_EQ(kestrel_session_run(session, &in, 1, &out, 1), KESTREL_OK) << kestrel_last_error();
    return allocations.load() - before;
  };
  for (int64_t batch = 1; batch <= 4; ++batch) run(batch);  // first runs: lazy library initialisation
  std::vector<int64_t> per_run;
  for (int64_t batch : {3, 1, 4, 2, 4, 1}) per_run.push_back(run(batch));
  std::printf("C API, variable-batch CNN: %lld allocations per run\n", static_cast<long long>(per_run[0]));
  for (int64_t count : per_run) EXPECT_EQ(count, per_run[0]);
  EXPECT_LE(per_run[0], kMaxLibraryAllocationsPerNode * 12);
  kestrel_session_destroy(session);
  kestrel_session_options_destroy(session_options);
  kestrel_model_destroy(model);
}

}  // namespace
}  // namespace kestrel::testing
