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
#include <vector>

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
// The CPU each of `num_threads` OpenMP threads of the calling thread is
// bound to (the first CPU of its affinity mask), for tests of pinning.
std::vector<int> worker_cpus(int num_threads);
// How many CPUs the process was allowed before any pinning.
int allowed_cpu_count();

// Element type of an activation tensor. Int8 layers read s8/u8 activations
// with s8 weights and s32 bias and write s8/u8 (or f32) activations.
enum class ElementType { kF32, kS8, kU8 };
size_t element_size(ElementType type);

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
  // Int8 convs (src_type s8/u8): dst = saturate(round(post_scale *
  // activation(output_scales[c] * (acc + bias[c]) + sum_scale * dst))), acc
  // the int32 accumulator; output_scales has one entry or one per output
  // channel. Activations that commute with scaling (ReLU, Clip with bounds in
  // dst units) put the whole requantization in output_scales; the others
  // (SiLU, Sigmoid, HardSwish, ...) run in real units and post_scale maps
  // the result to dst units. dst f32: no rounding.
  ElementType src_type = ElementType::kF32, dst_type = ElementType::kF32, sum_type = ElementType::kF32;
  std::vector<float> output_scales;
  float sum_scale = 1.0f;
  float post_scale = 1.0f;
};

// Conv weights already in the layout a primitive wants (its blocked format).
// `key` is Kestrel's name for that layout (implementation, oneDNN version and
// a fingerprint of the layout, see layout_key below): the only thing a model
// file stores about it. It is compared as a string, never parsed, so no file
// byte ever reaches oneDNN as a descriptor.
struct PackedWeights {
  const void* data = nullptr;
  size_t bytes = 0;
  std::string key;
};

class ConvPrimitive {
 public:
  // weight_oihw: [out_channels, in_channels / groups, kernel_h, kernel_w],
  // float32 (int8 when src_type is s8/u8); bias (optional): [out_channels],
  // float32 (int32 for int8 convs). Both are copied.
  static StatusOr<std::unique_ptr<ConvPrimitive>> create(const ConvParams& params, const Tensor& weight_oihw,
                                                         const Tensor* bias);
  // With weights packed earlier, e.g. mapped from a .kestrel file: the
  // primitive creates the weight layout its kernel wants on this CPU and
  // thread count itself, and uses `cached` in place (not copied; it must
  // then outlive the primitive) only when cached.key equals that layout's
  // key and cached.bytes its size. Otherwise it packs `weight_oihw` (as
  // create does). `cached` may hold anything: it is never interpreted.
  static StatusOr<std::unique_ptr<ConvPrimitive>> create_cached(const ConvParams& params, const Tensor& weight_oihw,
                                                                const PackedWeights& cached, const Tensor* bias);
  ~ConvPrimitive();

  // The weights as this primitive holds them (valid while it lives).
  PackedWeights packed_weights() const;
  // False when create_cached had to pack the plain weights.
  bool weights_used_in_place() const { return weights_in_place_; }

  // Buffers are 64-byte aligned, caller-owned, sized as in ConvParams.
  // False when oneDNN reports a failure (nothing else is then defined about dst).
  bool run(const void* src_nhwc, void* dst_nhwc) const;
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

  // src: batch * in_features floats; dst: [batch, out_features]. False on a oneDNN failure.
  bool run(const void* src, void* dst) const;
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
  ElementType type = ElementType::kF32;  // s8/u8: max pooling keeps the scale
};

class PoolPrimitive {
 public:
  static StatusOr<std::unique_ptr<PoolPrimitive>> create(const PoolParams& params);
  ~PoolPrimitive();

  bool run(const void* src_nhwc, void* dst_nhwc) const;  // false on a oneDNN failure
  std::string implementation() const;
  const PoolParams& params() const { return params_; }

 private:
  PoolPrimitive(const PoolParams& params, std::unique_ptr<detail::CompiledPrimitive> compiled);
  PoolParams params_;
  std::unique_ptr<detail::CompiledPrimitive> compiled_;
};

// Elementwise dst = saturate(round_half_even(scale * src)) over `count`
// elements: quantization (f32 -> s8/u8, scale = 1 / quantization scale) and
// dequantization (s8/u8 -> f32) at the edges of int8 regions.
class ScalePrimitive {
 public:
  static StatusOr<std::unique_ptr<ScalePrimitive>> create(int64_t count, ElementType src_type, ElementType dst_type,
                                                          float scale);
  // A layout change of a 4-D [N, C, H, W] tensor, NCHW -> NHWC or back.
  static StatusOr<std::unique_ptr<ScalePrimitive>> create_reorder(const Shape& nchw_dims, ElementType type,
                                                                  bool to_nhwc);
  ~ScalePrimitive();

  bool run(const void* src, void* dst) const;  // false on a oneDNN failure
  std::string implementation() const;

 private:
  explicit ScalePrimitive(std::unique_ptr<detail::CompiledPrimitive> compiled);
  std::unique_ptr<detail::CompiledPrimitive> compiled_;
};

}  // namespace kestrel::onednn
