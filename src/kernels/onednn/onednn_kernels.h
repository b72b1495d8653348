// The oneDNN layer of the fast FP32 CPU backend: convolution, inner product
// (Gemm) and pooling primitives on channels-last (NHWC) float32 activations.
//
// Each primitive is created once per layer (weights reordered into oneDNN's
// preferred blocked layout, kernel JIT-compiled, scratchpad allocated) and then
// run many times on caller-owned buffers; run() allocates nothing of its own.
// This header does not include dnnl.hpp so a port to the oneDNN 3.x API stays
// inside src/kernels/onednn/.
//
// Threads: oneDNN parallelizes each primitive with OpenMP. The thread count
// is an OpenMP setting of the thread that calls run() (set_num_threads, or
// OMP_NUM_THREADS). Pin threads with OMP_PROC_BIND=close OMP_PLACES=cores:
// unpinned OpenMP threads migrate between cores and lose their caches.
//
// Concurrency: one object must not be run from two threads at once (it owns
// one scratchpad); different objects may be, from different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "ir/tensor.h"
#include "kernels/activation.h"

namespace kestrel::onednn {

namespace detail {
class CompiledPrimitive;  // primitive + owned weights + scratchpad; onednn_internal.h
}

// Sets the OpenMP thread count for primitives run from the calling thread.
void set_num_threads(int num_threads);
// The thread count primitives run from the calling thread will use.
int num_threads();
// Pins each of the calling thread's `num_threads` OpenMP threads to its own
// allowed CPU (round robin over the process's affinity mask), so they keep
// their caches. Returns how many threads were pinned.
int pin_threads(int num_threads);

// Conv on NCHW-semantics dims; src is [batch, in_h, in_w, in_channels] and dst
// [batch, out_h, out_w, out_channels] in memory. Dilations are ONNX style
// (1 = none). With `sum`, dst already holds the residual on entry and
// receives activation(conv + bias + dst).
struct ConvParams {
  int64_t batch = 1, in_channels = 0, in_h = 0, in_w = 0;
  int64_t out_channels = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t groups = 1;
  Activation activation;
  bool sum = false;
};

// Conv weights already in the layout a primitive wants (its blocked format),
// e.g. straight from a mapped .kestrel file. `layout` is oneDNN's own
// description of that format, opaque to callers.
struct PackedWeights {
  const void* data = nullptr;
  size_t bytes = 0;
  std::string layout;
};

class ConvPrimitive {
 public:
  // weight_oihw: float32 [out_channels, in_channels / groups, kernel_h, kernel_w];
  // bias (optional): float32 [out_channels]. Both are copied.
  static StatusOr<std::unique_ptr<ConvPrimitive>> create(const ConvParams& params, const Tensor& weight_oihw,
                                                         const Tensor* bias);
  // With weights packed earlier: used in place (not copied) when this CPU's
  // kernel wants the same layout — they must then outlive the primitive —
  // and reordered into a copy otherwise.
  static StatusOr<std::unique_ptr<ConvPrimitive>> create_prepacked(const ConvParams& params,
                                                                   const PackedWeights& weights, const Tensor* bias);
  ~ConvPrimitive();

  // The weights as this primitive holds them (valid while it lives).
  PackedWeights packed_weights() const;
  // False when create_prepacked had to reorder the given weights.
  bool weights_used_in_place() const { return weights_in_place_; }

  // Buffers are 64-byte aligned, caller-owned, sized as in ConvParams.
  void run(const float* src_nhwc, float* dst_nhwc) const;
  // oneDNN's name for the kernel it picked, e.g. "brgconv:avx512_core".
  std::string implementation() const;
  const ConvParams& params() const { return params_; }

 private:
  ConvPrimitive(const ConvParams& params, std::unique_ptr<detail::CompiledPrimitive> compiled);
  ConvParams params_;
  std::unique_ptr<detail::CompiledPrimitive> compiled_;
  PackedWeights weights_;
  bool weights_in_place_ = false;
};

// ONNX Gemm Y = activation(alpha * A * op(B) + beta * C [+ Y]) with A
// [batch, in_features] and op(B) = B^T when trans_b (B is [out_features,
// in_features]) or B ([in_features, out_features]). C must be constant and
// broadcastable to [out_features] (it becomes the bias).
//
// When src_h * src_w > 1, A is an unflattened [batch, C, src_h, src_w]
// tensor stored NHWC (in_features = C * src_h * src_w): the result is that of
// ONNX Flatten (NCHW order) followed by Gemm.
struct InnerProductParams {
  int64_t batch = 1, in_features = 0, out_features = 0;
  bool trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  Activation activation;
  bool sum = false;
  int64_t src_h = 1, src_w = 1;
};

class InnerProductPrimitive {
 public:
  static StatusOr<std::unique_ptr<InnerProductPrimitive>> create(const InnerProductParams& params, const Tensor& b,
                                                                 const Tensor* c);
  ~InnerProductPrimitive();

  // src: batch * in_features floats; dst: [batch, out_features].
  void run(const float* src, float* dst) const;
  std::string implementation() const;
  const InnerProductParams& params() const { return params_; }

 private:
  InnerProductPrimitive(const InnerProductParams& params, std::unique_ptr<detail::CompiledPrimitive> compiled);
  InnerProductParams params_;
  std::unique_ptr<detail::CompiledPrimitive> compiled_;
};

enum class PoolKind { kMax, kAvgIncludePad, kAvgExcludePad };

// MaxPool / AveragePool / GlobalAveragePool (kernel = input size, no pads)
// on NHWC. out_h/out_w may exceed the floor-mode size (ONNX ceil_mode): the
// extra windows overhang the end of the input. Dilations only for kMax.
struct PoolParams {
  PoolKind kind = PoolKind::kMax;
  int64_t batch = 1, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

class PoolPrimitive {
 public:
  static StatusOr<std::unique_ptr<PoolPrimitive>> create(const PoolParams& params);
  ~PoolPrimitive();

  void run(const float* src_nhwc, float* dst_nhwc) const;
  std::string implementation() const;
  const PoolParams& params() const { return params_; }

 private:
  PoolPrimitive(const PoolParams& params, std::unique_ptr<detail::CompiledPrimitive> compiled);
  PoolParams params_;
  std::unique_ptr<detail::CompiledPrimitive> compiled_;
};

}  // namespace kestrel::onednn
