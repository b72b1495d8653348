// Kestrel's own int8 depthwise convolution (one filter per channel), NHWC,
// with the whole QFusedConv epilogue fused: bias, per-channel output scale,
// any fused activation (SiLU and Sigmoid included), post_scale, and a
// saturating, round-half-even int8/uint8 store or a float32 one.
//
// The fast path (AVX-512 VNNI + VBMI) sums with vpdpbusd: it lays out each
// input row once (vpermb), for every output column, as each channel's
// window columns in groups of 4 bytes, and keeps the last kernel_h such
// rows; one vpdpbusd then adds a window row of 16 channels, and a 3x3
// output pixel takes 3 of them. int8 inputs are offset
// by 128 into uint8 (padding then reads as 128) and the offset's sum,
// 128 * sum(w), taken back out: the int32 sums are exact, and the
// requantization that follows is the reference kernel's
// (kernels/reference/quantized_conv.cc) operation for operation. Only
// Sigmoid and SiLU differ, by the last bits of exp. The portable path is
// the reference arithmetic.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "kernels/cpu/avx512_util.h"

namespace kestrel::cpu {

enum class ConvOutput { kS8, kU8, kF32 };

// Larger windows could overflow the int32 sums.
inline constexpr int64_t kMaxDepthwiseTaps = 1024;

// True when this CPU has what the fast path needs (AVX-512 F/BW/VL, VNNI and VBMI).
bool depthwise_int8_fast_path_available();

struct DepthwiseShape {
  int64_t batch = 1, channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // the bottom/right padding follows from the output size
};

class DepthwiseInt8 {
 public:
  // weights: [channels][kernel_h][kernel_w] int8; bias: int32[channels] or
  // null; output_scales: 1 or `channels` entries. Sizes per-thread scratch
  // for the session's thread count now (cpu::max_threads()).
  DepthwiseInt8(const DepthwiseShape& shape, ByteType src_type, ConvOutput dst_type, const int8_t* weights,
                const int32_t* bias, const std::vector<float>& output_scales, Activation activation, float post_scale);

  // src: NHWC [batch, in_h, in_w, channels]; dst: NHWC [batch, out_h, out_w, channels].
  // Runs on the session's threads (cpu::parallel_for); allocates nothing.
  // Not re-entrant (per-thread scratch).
  void run(const void* src, void* dst) const;
  // Output rows [begin, end) of the batch * out_h rows, on the calling
  // thread, with scratch slot `slot` (< the slots sized at construction).
  void run_rows(const void* src, void* dst, int slot, int64_t begin, int64_t end) const;

  const DepthwiseShape& shape() const { return shape_; }

 private:
  DepthwiseShape shape_;
  ByteType src_type_;
  ConvOutput dst_type_;
  Activation activation_;
  float post_scale_;
  int64_t padded_channels_;               // channels rounded up to 16
  int64_t groups_;                        // window columns in fours: ceil(kernel_w / 4)
  int64_t row_bytes_ = 0;                 // one laid-out input row: [out_w][groups][padded][4]
  int slots_;                             // scratch slots, one per thread
  std::vector<int8_t> weights_;           // [kernel_h * kernel_w][channels], for the portable path
  std::vector<int8_t> packed_;            // [kernel_h][groups][padded][4]: window columns 4g..4g+3
  std::vector<int32_t> offset_sum_;       // [padded]: 128 * sum(w) for int8 inputs, else 0
  std::vector<float> bias_, scale_;       // [padded]
  mutable std::vector<uint8_t> scratch_;  // [slots][kernel_h + 1][out_w][groups][padded][4]
};

}  // namespace kestrel::cpu
