// Session: runs a compiled graph (static shapes, layouts assigned, memory
// planned) on the fast CPU backend. Everything is prepared at creation —
// the graph and plan checked (runtime/graph_checks.h: they may come from an
// untrusted file), primitives compiled, weights packed, one activation arena
// allocated — so run() only executes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "format/memory_plan.h"
#include "ir/graph.h"
#include "kernels/op_registry.h"
#include "runtime/fast_kernel.h"

namespace kestrel {

// More threads than this is a typo, not a machine (libgomp fails on far
// more); the C API and the CLI enforce the same limit.
inline constexpr int kMaxSessionThreads = 256;

struct SessionOptions {
  int threads = 0;               // 0: oneDNN/OpenMP default (all cores); at most kMaxSessionThreads
  bool pin_threads = true;       // pin each worker thread to its own core
  bool use_fast_kernels = true;  // false: reference kernels only (for testing)
  bool profile = false;          // record per-node times in run()
  // The largest activation arena (and, separately, total graph input +
  // output bytes) the session allocates: a model asking for more is refused
  // at creation instead of exhausting memory. 0: default_max_arena_bytes()
  // (planner/arena_limit.h: half the machine's memory), the converter's limit.
  int64_t max_arena_bytes = 0;
};

struct NodeProfile {
  std::string name, op, implementation;
  double total_ms = 0;
  int64_t runs = 0;
};

class Session {
 public:
  static StatusOr<std::unique_ptr<Session>> create(std::shared_ptr<const Graph> graph, const MemoryPlan& plan,
                                                   const SessionOptions& options);
  // The same model at a smaller batch, sharing `full`'s activation arena and
  // the leading part of each of its input and output buffers: `graph` is
  // full's graph at that batch (runtime/rebatch.h) and `plan` full's memory
  // plan, which holds any smaller batch at the same offsets. The two sessions
  // must not run at once (Session is single-threaded anyway). `full` must
  // outlive the returned session's runs.
  static StatusOr<std::unique_ptr<Session>> create_sharing(const Session& full, std::shared_ptr<const Graph> graph,
                                                           const MemoryPlan& plan);
  ~Session();

  const Graph& graph() const { return *graph_; }

  // Session-owned input and output tensors, in graph order. Fill the inputs,
  // call run(), read the outputs (valid until the next run()).
  Tensor& input(size_t i) { return inputs_[i]; }
  const Tensor& output(size_t i) const { return outputs_[i]; }
  Status run();

  // Convenience: checks and copies the named inputs in, runs, returns copies of the outputs.
  StatusOr<std::vector<Tensor>> run(const std::map<std::string, Tensor>& inputs);

  // Called after each node in run() with the node's outputs (views of the
  // arena, valid only during the call; 4-D activations may be NHWC in
  // memory). Calibration collects statistics this way. Empty: none.
  using Observer = std::function<void(const Node& node, const std::vector<const Tensor*>& outputs)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  const std::vector<NodeProfile>& profile() const { return profile_; }
  // Nodes whose packed weights from the model file did not fit this CPU's
  // kernels (another CPU, thread count or oneDNN), packed again at creation;
  // and how many nodes had packed weights at all.
  int weights_repacked() const { return weights_repacked_; }
  int weights_packed_in_file() const { return weights_packed_in_file_; }
  // Zeroes the per-node times (e.g. after warm-up runs).
  void reset_profile();

 private:
  struct Step;
  Session() = default;
  Status bind_values(const MemoryPlan& plan, const Session* share);
  Status build_steps();
  Status run_step(size_t i);

  std::shared_ptr<const Graph> graph_;
  SessionOptions options_;
  std::shared_ptr<void> arena_;
  int64_t arena_bytes_ = 0;
  std::vector<Tensor> views_;  // per value: its buffer (arena, constant, input or output)
  std::vector<Tensor> inputs_, outputs_;
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<NodeProfile> profile_;
  Observer observer_;
  int weights_repacked_ = 0, weights_packed_in_file_ = 0;
};

}  // namespace kestrel
