#include "runtime/session.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "kernels/onednn/onednn_kernels.h"
// Header-only and base-only: the converter's arena limit, so a model it
// wrote is never refused here for its arena (it belongs in src/base).
#include "planner/arena_limit.h"
#include "runtime/cpu_backend.h"
#include "runtime/graph_checks.h"
#include "runtime/rebatch.h"

namespace kestrel {

// One node ready to run: a fast kernel on raw pointers, or the reference
// kernel on tensor views of the same buffers.
struct Session::Step {
  std::unique_ptr<FastKernel> fast;
  std::vector<const void*> input_pointers;
  std::vector<void*> output_pointers;
  const OpDef* reference = nullptr;
  std::unique_ptr<KernelContext> context;
  std::vector<const Tensor*> output_views;
};

Session::~Session() = default;

StatusOr<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Graph> graph, const MemoryPlan& plan,
                                                   const SessionOptions& options) {
  if (graph == nullptr) return invalid_argument("Session::create: no graph");
  if (options.threads < 0 || options.threads > kMaxSessionThreads) {
    return invalid_argument("session threads must be 0 (the OpenMP default) to ", kMaxSessionThreads, ", got ",
                            options.threads);
  }
  const int64_t max_arena_bytes = options.max_arena_bytes > 0 ? options.max_arena_bytes : default_max_arena_bytes();
  KESTREL_RETURN_IF_ERROR(check_static_values(*graph, max_arena_bytes));
  KESTREL_RETURN_IF_ERROR(check_node_types(*graph));
  KESTREL_RETURN_IF_ERROR(check_memory_plan(*graph, plan, max_arena_bytes));
  std::unique_ptr<Session> session(new Session());
  session->graph_ = std::move(graph);
  session->options_ = options;
  if (options.threads > 0) onednn::set_num_threads(options.threads);
  if (options.pin_threads) onednn::pin_threads(onednn::num_threads());
  KESTREL_RETURN_IF_ERROR(session->bind_values(plan, nullptr));
  KESTREL_RETURN_IF_ERROR(session->build_steps());
  return session;
}

StatusOr<std::unique_ptr<Session>> Session::create_sharing(const Session& full, std::shared_ptr<const Graph> graph,
                                                           const MemoryPlan& full_plan) {
  if (graph == nullptr) return invalid_argument("Session::create_sharing: no graph");
  if (graph->inputs.size() != full.inputs_.size() || graph->outputs.size() != full.outputs_.size()) {
    return invalid_argument("Session::create_sharing: the graphs have different inputs or outputs");
  }
  KESTREL_ASSIGN_OR_RETURN(const int64_t full_batch, graph_batch(*full.graph_));
  KESTREL_ASSIGN_OR_RETURN(const int64_t batch, graph_batch(*graph));
  const MemoryPlan plan = rebatched_plan(full_plan, *graph, full_batch, batch);
  const int64_t max_arena_bytes =
      full.options_.max_arena_bytes > 0 ? full.options_.max_arena_bytes : default_max_arena_bytes();
  KESTREL_RETURN_IF_ERROR(check_static_values(*graph, max_arena_bytes));
  KESTREL_RETURN_IF_ERROR(check_node_types(*graph));
  KESTREL_RETURN_IF_ERROR(check_memory_plan(*graph, plan, max_arena_bytes));
  if (plan.arena_bytes > full.arena_bytes_) {
    return invalid_argument("Session::create_sharing: the plan needs a ", plan.arena_bytes,
                            "-byte arena, the session has ", full.arena_bytes_);
  }
  std::unique_ptr<Session> session(new Session());
  session->graph_ = std::move(graph);
  session->options_ = full.options_;
  KESTREL_RETURN_IF_ERROR(session->bind_values(plan, &full));
  KESTREL_RETURN_IF_ERROR(session->build_steps());
  return session;
}

namespace {

// A buffer for a graph input or output: its own, or the leading part of the
// sharing session's buffer for the same input or output.
StatusOr<Tensor> io_buffer(const Value& value, const Tensor* shared) {
  if (shared == nullptr) return Tensor(value.dtype, value.shape);
  if (shared->dtype() != value.dtype) {
    return invalid_argument("'", value.name, "' is ", dtype_name(value.dtype), " here but ",
                            dtype_name(shared->dtype()), " in the session it shares");
  }
  return shared->prefix(value.shape);
}

}  // namespace

Status Session::bind_values(const MemoryPlan& plan, const Session* share) {
  const Graph& graph = *graph_;
  if (plan.value_offsets.size() != graph.values.size()) {
    return invalid_argument("memory plan covers ", plan.value_offsets.size(), " values but the graph has ",
                            graph.values.size());
  }
  void* arena = nullptr;
  if (share != nullptr) {
    arena_ = share->arena_;
    arena_bytes_ = share->arena_bytes_;
    arena = arena_.get();
  } else {
    const size_t arena_bytes = static_cast<size_t>(std::max<int64_t>(plan.arena_bytes, kTensorAlignment));
    arena = std::aligned_alloc(kTensorAlignment,
                               (arena_bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment);
    if (arena == nullptr) return internal_error("cannot allocate a ", arena_bytes, "-byte activation arena");
    arena_ = std::shared_ptr<void>(arena, std::free);
    arena_bytes_ = plan.arena_bytes;
  }
  views_.resize(graph.values.size());
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    const ValueId id = graph.inputs[i];
    KESTREL_ASSIGN_OR_RETURN(Tensor buffer, io_buffer(graph.value(id), share ? &share->inputs_[i] : nullptr));
    inputs_.push_back(std::move(buffer));
    views_[static_cast<size_t>(id)] = inputs_.back();
  }
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    const ValueId id = graph.outputs[i];
    const bool is_input = !views_[static_cast<size_t>(id)].empty();
    if (is_input) {
      outputs_.push_back(views_[static_cast<size_t>(id)]);
    } else {
      KESTREL_ASSIGN_OR_RETURN(Tensor buffer, io_buffer(graph.value(id), share ? &share->outputs_[i] : nullptr));
      outputs_.push_back(std::move(buffer));
    }
    views_[static_cast<size_t>(id)] = outputs_.back();
  }
  for (size_t v = 0; v < graph.values.size(); ++v) {
    const Value& value = graph.values[v];
    if (value.constant && !views_[v].empty()) {  // a graph output folded to a constant
      std::memcpy(views_[v].raw_data(), value.constant->raw_data(), value.constant->nbytes());
    } else if (value.constant) {
      views_[v] = *value.constant;
    } else if (plan.value_offsets[v] >= 0) {
      const int64_t bytes = shape_size(value.shape) * static_cast<int64_t>(dtype_size(value.dtype));
      if (plan.value_offsets[v] + bytes > plan.arena_bytes) {
        return invalid_argument("memory plan puts value '", value.name, "' outside the arena");
      }
      views_[v] = Tensor::wrap(value.dtype, value.shape, arena_, static_cast<char*>(arena) + plan.value_offsets[v]);
    }
  }
  return {};
}

Status Session::build_steps() {
  const Graph& graph = *graph_;
  for (const Node& node : graph.nodes) {
    auto step = std::make_unique<Step>();
    std::vector<const Tensor*> inputs;
    std::vector<Tensor*> outputs;
    for (ValueId in : node.inputs) {
      const bool present = in != kNoValue;
      if (present && views_[static_cast<size_t>(in)].empty()) {
        return internal_error(node.label(), ": input '", graph.value(in).name, "' has no buffer");
      }
      inputs.push_back(present ? &views_[static_cast<size_t>(in)] : nullptr);
      step->input_pointers.push_back(present ? views_[static_cast<size_t>(in)].raw_data() : nullptr);
    }
    for (ValueId out : node.outputs) {
      if (out == kNoValue || views_[static_cast<size_t>(out)].empty()) {
        return unimplemented(node.label(), ": unused optional outputs are not supported by the compiled runtime");
      }
      outputs.push_back(&views_[static_cast<size_t>(out)]);
      step->output_views.push_back(&views_[static_cast<size_t>(out)]);
      step->output_pointers.push_back(views_[static_cast<size_t>(out)].raw_data());
    }
    // Serially, on this thread: oneDNN sizes each primitive (blocking,
    // scratchpad, weight layout) for the thread count it sees at creation,
    // which inside a parallel region is 1, so kernels created on the
    // session's threads would run wrong on all of them.
    if (options_.use_fast_kernels) {
      auto fast = make_cpu_kernel(graph, node);
      if (!fast.ok()) return fast.status().with_context(node.label());
      step->fast = std::move(fast).value();
    }
    NodeProfile profile{node.name, node.op_type, "reference"};
    weights_packed_in_file_ += node.attrs.has(kPackedWeightsAttr);
    if (step->fast) {
      profile.implementation = step->fast->implementation();
      weights_repacked_ += step->fast->repacked_weights();
    } else {
      step->reference = OpRegistry::global().find(node);
      if (step->reference == nullptr || step->reference->run == nullptr) {
        return unimplemented(node.label(), ": no kernel can run this node");
      }
      step->context = std::make_unique<KernelContext>(node, graph.opset, inputs, outputs);
    }
    profile_.push_back(profile);
    steps_.push_back(std::move(step));
  }
  return {};
}

void Session::reset_profile() {
  for (NodeProfile& entry : profile_) {
    entry.total_ms = 0;
    entry.runs = 0;
  }
}

Status Session::run() {
  using Clock = std::chrono::steady_clock;
  if (options_.threads > 0) onednn::set_num_threads(options_.threads);
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& step = *steps_[i];
    const auto start = options_.profile ? Clock::now() : Clock::time_point();
    KESTREL_RETURN_IF_ERROR(run_step(i));
    if (observer_) observer_(graph_->nodes[i], step.output_views);
    if (options_.profile) {
      profile_[i].total_ms += std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      ++profile_[i].runs;
    }
  }
  return {};
}

// A kernel's failure (a oneDNN error status, an exception from a library)
// becomes a Status naming the node; nothing is thrown out of run().
Status Session::run_step(size_t i) {
  Step& step = *steps_[i];
  try {
    if (!step.fast) return step.reference->run(*step.context);  // its errors name the node already
    Status status = step.fast->run(step.input_pointers, step.output_pointers);
    if (status.ok()) return status;
    return status.with_context(graph_->nodes[i].label());
  } catch (const std::exception& error) {
    return internal_error(graph_->nodes[i].label(), ": ", error.what());
  }
}

StatusOr<std::vector<Tensor>> Session::run(const std::map<std::string, Tensor>& inputs) {
  const Graph& graph = *graph_;
  if (inputs.size() != graph.inputs.size()) {
    return invalid_argument("the model takes ", graph.inputs.size(), " input(s), got ", inputs.size());
  }
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    const Value& declared = graph.value(graph.inputs[i]);
    auto given = inputs.find(declared.name);
    if (given == inputs.end()) return invalid_argument("input '", declared.name, "' is not given");
    if (given->second.dtype() != declared.dtype || given->second.shape() != declared.shape) {
      return invalid_argument("input '", declared.name, "': expected ", dtype_name(declared.dtype), " ",
                              shape_string(declared.shape), " (as compiled), got ", dtype_name(given->second.dtype()),
                              " ", shape_string(given->second.shape()));
    }
    std::memcpy(inputs_[i].raw_data(), given->second.raw_data(), given->second.nbytes());
  }
  KESTREL_RETURN_IF_ERROR(run());
  std::vector<Tensor> results;
  for (const Tensor& output : outputs_) results.push_back(output.clone());
  return results;
}

}  // namespace kestrel
