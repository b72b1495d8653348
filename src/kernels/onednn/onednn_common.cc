// Engine, error conversion, post-ops and the run-many primitive wrapper shared
// by the oneDNN kernels.
#include <sched.h>

#include <algorithm>
#include <vector>

#include <omp.h>

#include "kernels/onednn/onednn_internal.h"

namespace kestrel::onednn {

void set_num_threads(int num_threads) {
  if (num_threads > 0) omp_set_num_threads(num_threads);
}

namespace {

// The CPUs the process may run on, read once, before any pinning: pinning
// narrows the calling thread's own mask to one CPU, so reading it again at
// the next session would put every worker on that one CPU.
const std::vector<int>& allowed_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> list;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return list;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &allowed)) list.push_back(cpu);
    }
    return list;
  }();
  return cpus;
}

}  // namespace

int pin_threads(int num_threads) {
  const std::vector<int>& cpus = allowed_cpus();
  if (num_threads <= 0 || cpus.empty()) return 0;
  int pinned = 0;
  // One OpenMP thread per allowed CPU, in order; the pool keeps its threads,
  // so later parallel regions of the same size run on the same cores.
#pragma omp parallel num_threads(num_threads) reduction(+ : pinned)
  {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[static_cast<size_t>(omp_get_thread_num()) % cpus.size()], &one);
    pinned += sched_setaffinity(0, sizeof(one), &one) == 0 ? 1 : 0;
  }
  return pinned;
}

std::vector<int> worker_cpus(int num_threads) {
  std::vector<int> first_cpu(static_cast<size_t>(std::max(num_threads, 0)), -1);
#pragma omp parallel num_threads(num_threads)
  {
    cpu_set_t mask;
    if (sched_getaffinity(0, sizeof(mask), &mask) == 0) {
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &mask)) {
          first_cpu[static_cast<size_t>(omp_get_thread_num())] = cpu;
          break;
        }
      }
    }
  }
  return first_cpu;
}

int allowed_cpu_count() { return static_cast<int>(allowed_cpus().size()); }

int num_threads() { return omp_get_max_threads(); }

Engine& Engine::instance() {
  // A function-local static: if oneDNN throws here the next call tries again.
  static Engine engine{dnnl::engine(dnnl::engine::kind::cpu, 0)};
  return engine;
}

Status status_from_error(const dnnl::error& error, const std::string& what) {
  switch (error.status) {
    case dnnl_unimplemented: return unimplemented(what, ": oneDNN has no implementation (", error.what(), ")");
    case dnnl_invalid_arguments: return invalid_argument(what, ": oneDNN rejected the arguments (", error.what(), ")");
    default: return internal_error(what, ": oneDNN error ", static_cast<int>(error.status), " (", error.what(), ")");
  }
}

Status status_from_exception(const std::exception& error, const std::string& what) {
  return internal_error(what, ": ", error.what());
}

namespace {

// Appends `activation` as eltwise post-ops, the last one scaled by
// `post_scale`. oneDNN 2.6 has no hardsigmoid, so HardSigmoid is linear
// (alpha * x + beta) then clip to [0, 1]. eltwise_hardswish is ONNX's
// HardSwish x * clamp(x / 6 + 0.5, 0, 1).
void append_activation(const Activation& activation, float post_scale, dnnl::post_ops& ops) {
  using dnnl::algorithm;
  const float scale = post_scale;
  switch (activation.kind) {
    case ActivationKind::kNone:
      if (post_scale != 1.0f) ops.append_eltwise(1.0f, algorithm::eltwise_linear, post_scale, 0.0f);
      return;
    case ActivationKind::kRelu: ops.append_eltwise(scale, algorithm::eltwise_relu, 0.0f, 0.0f); return;
    case ActivationKind::kLeakyRelu: ops.append_eltwise(scale, algorithm::eltwise_relu, activation.alpha, 0.0f); return;
    case ActivationKind::kClip:
      ops.append_eltwise(scale, algorithm::eltwise_clip_v2, activation.alpha, activation.beta);
      return;
    case ActivationKind::kSigmoid: ops.append_eltwise(scale, algorithm::eltwise_logistic, 0.0f, 0.0f); return;
    case ActivationKind::kHardSigmoid:
      ops.append_eltwise(1.0f, algorithm::eltwise_linear, activation.alpha, activation.beta);
      ops.append_eltwise(scale, algorithm::eltwise_clip_v2, 0.0f, 1.0f);
      return;
    case ActivationKind::kHardSwish: ops.append_eltwise(scale, algorithm::eltwise_hardswish, 0.0f, 0.0f); return;
    case ActivationKind::kSiLU: ops.append_eltwise(scale, algorithm::eltwise_swish, 1.0f, 0.0f); return;
    case ActivationKind::kGelu: ops.append_eltwise(scale, algorithm::eltwise_gelu_erf, 0.0f, 0.0f); return;
  }
}

}  // namespace

dnnl::primitive_attr make_plain_attr() {
  dnnl::primitive_attr attr;
  // Owned by the primitive object, so run() allocates nothing.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

size_t element_size(ElementType type) { return type == ElementType::kF32 ? sizeof(float) : sizeof(int8_t); }

memory::data_type data_type(ElementType type) {
  switch (type) {
    case ElementType::kS8: return memory::data_type::s8;
    case ElementType::kU8: return memory::data_type::u8;
    case ElementType::kF32: break;
  }
  return kF32;
}

dnnl::primitive_attr make_attr(const Activation& activation, bool sum, const QuantAttr& quant) {
  dnnl::primitive_attr attr = make_plain_attr();
  if (quant.output_scales != nullptr && !quant.output_scales->empty()) {
    // Mask bit 1: one scale per output channel (dim 1 of dst).
    constexpr int kPerTensor = 0, kPerChannel = 1 << 1;
    attr.set_output_scales(quant.output_scales->size() > 1 ? kPerChannel : kPerTensor, *quant.output_scales);
  }
  dnnl::post_ops ops;
  if (sum && quant.sum_type == ElementType::kF32) ops.append_sum(quant.sum_scale);
  if (sum && quant.sum_type != ElementType::kF32) ops.append_sum(quant.sum_scale, data_type(quant.sum_type));
  append_activation(activation, quant.post_scale, ops);
  attr.set_post_ops(ops);
  return attr;
}

memory wrap_const(const memory::desc& desc, const void* data) {
  // oneDNN's memory takes a mutable handle; reorders only read their source.
  return memory(desc, Engine::instance().engine, const_cast<void*>(data));
}

memory reorder_to(const memory& src, const memory::desc& desc) {
  const dnnl::engine& engine = Engine::instance().engine;
  memory dst(desc, engine);
  dnnl::stream stream(engine);
  dnnl::reorder(src, dst).execute(stream, const_cast<memory&>(src), dst);
  stream.wait();
  return dst;
}

namespace detail {

CompiledPrimitive::CompiledPrimitive(const dnnl::primitive_desc_base& pd)
    : primitive_(pd.get()),
      stream_(Engine::instance().engine),
      src_(pd.src_desc(), Engine::instance().engine, DNNL_MEMORY_NONE),
      dst_(pd.dst_desc(), Engine::instance().engine, DNNL_MEMORY_NONE),
      implementation_(pd.impl_info_str()) {
  args_.push_back({DNNL_ARG_SRC, src_.get()});
  args_.push_back({DNNL_ARG_DST, dst_.get()});
  const memory::desc scratchpad = pd.scratchpad_desc();
  if (scratchpad.get_size() > 0) bind(DNNL_ARG_SCRATCHPAD, memory(scratchpad, Engine::instance().engine));
}

void CompiledPrimitive::bind(int arg, memory value) {
  args_.push_back({arg, value.get()});
  owned_.push_back(std::move(value));
}

bool CompiledPrimitive::run(const void* src, void* dst) const {
  dnnl_status_t status = dnnl_memory_set_data_handle(src_.get(), const_cast<void*>(src));
  if (status == dnnl_success) status = dnnl_memory_set_data_handle(dst_.get(), dst);
  if (status == dnnl_success) {
    status = dnnl_primitive_execute(primitive_.get(), stream_.get(), static_cast<int>(args_.size()), args_.data());
  }
  // With the OpenMP runtime a CPU stream executes synchronously: dst is
  // complete on return. Creation validated every shape and layout, so a
  // failure here is a bug, but one the session reports, naming the node,
  // rather than running on with an undefined dst.
  return status == dnnl_success;
}

}  // namespace detail
}  // namespace kestrel::onednn
