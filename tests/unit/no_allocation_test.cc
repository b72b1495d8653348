// Session::run() allocates no tensors: the arena, primitives and scratchpads
// are all set up at creation. Counted through the global operator new of this
// test binary. oneDNN 2.x itself allocates a few small objects inside every
// primitive execution (its per-call argument map), which this test bounds
// per node and requires to be the same on every run; Kestrel's own code on
// the fast path adds none.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <new>
#include <vector>

#include "frontend/onnx/onnx_importer.h"
#include "passes/compile.h"
#include "passes/shape_inference.h"
#include "runtime/session.h"
#include "test_paths.h"

namespace {
std::atomic<int64_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

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
  std::printf("%s: %lld operator new calls per run for %lld nodes\n", path.c_str(), static_cast<long long>(per_run[0]),
              static_cast<long long>(nodes));
  EXPECT_EQ(per_run[0], per_run[1]);
  EXPECT_EQ(per_run[1], per_run[2]);
  EXPECT_LE(per_run[0], kMaxLibraryAllocationsPerNode * nodes);
}

TEST(NoAllocation, ResNet50RunAllocationsAreBoundedAndStable) {
  expect_bounded_allocations(shared_path("models/resnet50_fmnist.onnx"), {1, 3, 224, 224});
}

TEST(NoAllocation, BundledCnnRunAllocationsAreBoundedAndStable) {
  expect_bounded_allocations(source_path("models/fmnist_cnn.onnx"), {2, 1, 28, 28});
}

}  // namespace
}  // namespace kestrel::testing
