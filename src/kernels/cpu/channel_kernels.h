// Kestrel's own NHWC kernels for the squeeze-excitation ops
// (kernels/channel_ops.h): AVX-512 where the CPU has it, plain C++
// otherwise; both give the reference kernels' bits. Memory-bound, so one
// thread. Nothing here allocates.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/cpu/avx512_util.h"

namespace kestrel::cpu {

// dst[n, p, c] = src[n, p, c] * scale[n, c] over NHWC [batch, pixels, channels].
void channel_scale_f32(const float* src, const float* scale, float* dst, int64_t batch, int64_t pixels,
                       int64_t channels);

// dst[n, p, c] = fma(src[n, p, c], scale[c], shift[c]) over NHWC [batch, pixels, channels],
// then max(., 0) with `relu`.
void channel_affine_f32(const float* src, const float* scale, const float* shift, float* dst, int64_t batch,
                        int64_t pixels, int64_t channels, bool relu = false);

// dst = saturate(round_half_even(src * multiplier[n, c])), int8/uint8 in and out.
void channel_scale_int8(const void* src, ByteType src_type, const float* multiplier, void* dst, ByteType dst_type,
                        int64_t batch, int64_t pixels, int64_t channels);

// dst[n, c] = saturate(round_half_even(float(sum over p of src[n, p, c]) * multiplier));
// `sums` is caller scratch of `channels` int32.
void global_average_int8(const void* src, ByteType src_type, float multiplier, int32_t* sums, void* dst,
                         ByteType dst_type, int64_t batch, int64_t pixels, int64_t channels);

// LayerNormalization of `rows` contiguous rows of `cols` floats:
// dst = (src - mean) / sqrt(var + epsilon) * scale + bias (bias may be null).
void layer_norm_f32(const float* src, const float* scale, const float* bias, float* dst, int64_t rows, int64_t cols,
                    float epsilon);

}  // namespace kestrel::cpu
