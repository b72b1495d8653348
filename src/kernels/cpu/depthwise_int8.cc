#include "kernels/cpu/depthwise_int8.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/cpu_features.h"
#include "kernels/channel_ops.h"
#include "kernels/cpu/parallel.h"

// The requantization must be the reference's multiply-then-add, never a
// fused multiply-add: this file is built with -ffp-contract=off.

namespace kestrel::cpu {
namespace {

template <typename T>
const T* typed(const void* p) {
  return static_cast<const T*>(p);
}

// ---- plain C++: the reference arithmetic ----

template <typename Src>
void rows_portable(const DepthwiseShape& s, const int8_t* weights, const float* bias, const float* scale,
                   const Activation& activation, float post_scale, ConvOutput dst_type, const Src* src, void* dst,
                   int64_t begin, int64_t end) {
  const int64_t c_count = s.channels;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.out_h, oy = row % s.out_h;
    for (int64_t ox = 0; ox < s.out_w; ++ox) {
      const int64_t out_index = ((n * s.out_h + oy) * s.out_w + ox) * c_count;
      for (int64_t c = 0; c < c_count; ++c) {
        int32_t acc = 0;
        for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
          const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
          if (iy < 0 || iy >= s.in_h) continue;
          for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
            const int64_t ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
            if (ix < 0 || ix >= s.in_w) continue;
            acc += static_cast<int32_t>(src[((n * s.in_h + iy) * s.in_w + ix) * c_count + c]) *
                   weights[(ky * s.kernel_w + kx) * c_count + c];
          }
        }
        float v = scale[c] * (static_cast<float>(acc) + bias[c]);
        apply_activation(activation, &v, 1);
        if (post_scale != 1.0f) v *= post_scale;
        if (dst_type == ConvOutput::kF32) static_cast<float*>(dst)[out_index + c] = v;
        else if (dst_type == ConvOutput::kU8) static_cast<uint8_t*>(dst)[out_index + c] = saturate_round<uint8_t>(v);
        else static_cast<int8_t*>(dst)[out_index + c] = saturate_round<int8_t>(v);
      }
    }
  }
}

// ---- AVX-512 ----

// exp(x) to about 1 ulp: 2^n * p(r) with r = x - n ln 2, |r| <= ln 2 / 2.
KESTREL_AVX512 inline __m512 exp_avx512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

KESTREL_AVX512 inline __m512 sigmoid_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

KESTREL_AVX512 inline __m512 hard_sigmoid_avx512(__m512 x, __m512 alpha, __m512 beta) {
  const __m512 y = _mm512_add_ps(_mm512_mul_ps(alpha, x), beta);
  return _mm512_min_ps(_mm512_max_ps(y, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
}

#define KESTREL_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

// activation(v), as kernels/activation.cc computes it.
template <ActivationKind kKind>
KESTREL_AVX512 inline __m512 activate(__m512 v, __m512 alpha, __m512 beta) {
  if constexpr (kKind == ActivationKind::kRelu) return _mm512_max_ps(v, _mm512_setzero_ps());
  if constexpr (kKind == ActivationKind::kClip) return _mm512_min_ps(_mm512_max_ps(v, alpha), beta);
  if constexpr (kKind == ActivationKind::kLeakyRelu) {
    return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, alpha);
  }
  if constexpr (kKind == ActivationKind::kSigmoid) return sigmoid_avx512(v);
  if constexpr (kKind == ActivationKind::kHardSigmoid) return hard_sigmoid_avx512(v, alpha, beta);
  if constexpr (kKind == ActivationKind::kHardSwish) {
    return _mm512_mul_ps(v, hard_sigmoid_avx512(v, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f)));
  }
  if constexpr (kKind == ActivationKind::kSiLU) return _mm512_mul_ps(v, sigmoid_avx512(v));
  return v;
}

struct RowArgs {
  const DepthwiseShape* s;
  int64_t padded, groups;     // groups: window columns in fours, ceil(kernel_w / 4)
  const int8_t* packed;       // [kernel_h][groups][padded][4]
  const int32_t* offset_sum;  // [padded]
  const float* bias;
  const float* scale;
  Activation activation;
  float post_scale;
  const uint8_t* src;  // one element is one byte
  void* dst;
  uint8_t* rows;  // this thread's [kernel_h + 1][out_w][groups][padded][4]; the last is padding
  bool flip;      // int8 input: x ^ 0x80 is x + 128 as uint8
};

// Lays out input row `iy` for the output columns: for each output column,
// each channel's window columns 4g..4g+3 as 4 consecutive bytes.
KESTREL_AVX512_VNNI void build_row(const RowArgs& a, int64_t n, int64_t iy, uint8_t* out, __m512i interleave) {
  const DepthwiseShape& s = *a.s;
  const __m128i pad = _mm_set1_epi8(a.flip ? static_cast<char>(0x80) : 0);
  const __m128i flip = pad;
  const uint8_t* row = a.src + (n * s.in_h + iy) * s.in_w * s.channels;
  for (int64_t ox = 0; ox < s.out_w; ++ox) {
    for (int64_t g = 0; g < a.groups; ++g) {
      const uint8_t* column[4];
      for (int64_t j = 0; j < 4; ++j) {
        const int64_t kx = g * 4 + j, ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
        column[j] = kx < s.kernel_w && ix >= 0 && ix < s.in_w ? row + ix * s.channels : nullptr;
      }
      uint8_t* dst = out + (ox * a.groups + g) * a.padded * 4;
      for (int64_t c = 0; c < s.channels; c += kLanes) {
        const __mmask16 mask = tail_mask(s.channels - c);
        __m128i chunk[4];
        for (int j = 0; j < 4; ++j) {
          chunk[j] = column[j] == nullptr ? pad : _mm_xor_si128(_mm_maskz_loadu_epi8(mask, column[j] + c), flip);
        }
        __m512i v = _mm512_castsi128_si512(chunk[0]);
        v = _mm512_inserti32x4(v, chunk[1], 1);
        v = _mm512_inserti32x4(v, chunk[2], 2);
        v = _mm512_inserti32x4(v, chunk[3], 3);
        _mm512_storeu_si512(dst + c * 4, _mm512_permutexvar_epi8(interleave, v));
      }
    }
  }
}

template <ActivationKind kKind, ConvOutput kDst>
KESTREL_AVX512_VNNI void rows_vnni(const RowArgs& a, int64_t begin, int64_t end) {
  const DepthwiseShape& s = *a.s;
  // Byte 4c + j of the result is byte 16j + c of the 4 stacked window columns.
  alignas(64) int8_t order[64];
  for (int c = 0; c < 16; ++c) {
    for (int j = 0; j < 4; ++j) order[4 * c + j] = static_cast<int8_t>(16 * j + c);
  }
  const __m512i interleave = _mm512_load_si512(order);
  const __m512 alpha = _mm512_set1_ps(a.activation.alpha), beta = _mm512_set1_ps(a.activation.beta);
  const __m512 post_scale = _mm512_set1_ps(a.post_scale);
  const bool scaled = a.post_scale != 1.0f;
  const int64_t tap_bytes = a.padded * 4, row_bytes = s.out_w * a.groups * tap_bytes;
  const int64_t kernel_h = s.kernel_h;
  // A ring of kernel_h laid-out input rows, each tagged with its input row.
  constexpr int64_t kEmpty = std::numeric_limits<int64_t>::min();
  int64_t tag[kMaxDepthwiseTaps];
  for (int64_t i = 0; i < kernel_h; ++i) tag[i] = kEmpty;
  const uint8_t* window[kMaxDepthwiseTaps];
  uint8_t* const padding_row = a.rows + kernel_h * row_bytes;

  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.out_h, oy = row % s.out_h;
    if (oy == 0) {
      for (int64_t i = 0; i < kernel_h; ++i) tag[i] = kEmpty;  // a new image
    }
    for (int64_t ky = 0; ky < kernel_h; ++ky) {
      const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
      if (iy < 0 || iy >= s.in_h) {
        window[ky] = padding_row;
        continue;
      }
      int64_t slot = -1;
      for (int64_t i = 0; i < kernel_h && slot < 0; ++i) slot = tag[i] == iy ? i : -1;
      if (slot < 0) {
        // A slot holding no row of this window (there is one: the window has kernel_h rows).
        const int64_t first = oy * s.stride_h - s.pad_top;
        auto in_window = [&](int64_t t) {
          return t >= first && (t - first) % s.dilation_h == 0 && (t - first) / s.dilation_h < kernel_h;
        };
        for (int64_t i = 0; i < kernel_h && slot < 0; ++i) slot = in_window(tag[i]) ? -1 : i;
        tag[slot] = iy;
        build_row(a, n, iy, a.rows + slot * row_bytes, interleave);
      }
      window[ky] = a.rows + slot * row_bytes;
    }
    const int64_t out_row = (n * s.out_h + oy) * s.out_w;
    for (int64_t c = 0; c < s.channels; c += kLanes) {
      const __mmask16 mask = tail_mask(s.channels - c);
      const __m512i offset = _mm512_loadu_si512(a.offset_sum + c);
      const __m512 bias = _mm512_loadu_ps(a.bias + c), scale = _mm512_loadu_ps(a.scale + c);
      const int8_t* weights = a.packed + c * 4;
      auto finish = [&](__m512i acc, int64_t ox) KESTREL_AVX512_VNNI {
        __m512 v = _mm512_mul_ps(scale, _mm512_add_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, offset)), bias));
        v = activate<kKind>(v, alpha, beta);
        if (scaled) v = _mm512_mul_ps(v, post_scale);
        const int64_t index = (out_row + ox) * s.channels + c;
        if constexpr (kDst == ConvOutput::kF32) _mm512_mask_storeu_ps(static_cast<float*>(a.dst) + index, mask, v);
        if constexpr (kDst == ConvOutput::kU8)
          store_rounded<ByteType::kU8>(v, static_cast<uint8_t*>(a.dst) + index, mask);
        if constexpr (kDst == ConvOutput::kS8)
          store_rounded<ByteType::kS8>(v, static_cast<int8_t*>(a.dst) + index, mask);
      };
      int64_t ox = 0;
      for (; ox + 4 <= s.out_w; ox += 4) {
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                          _mm512_setzero_si512()};
        for (int64_t ky = 0; ky < kernel_h; ++ky) {
          const uint8_t* base = window[ky] + c * 4;
          for (int64_t g = 0; g < a.groups; ++g) {
            const __m512i w = _mm512_loadu_si512(weights + (ky * a.groups + g) * tap_bytes);
            for (int t = 0; t < 4; ++t) {
              acc[t] = _mm512_dpbusd_epi32(acc[t], _mm512_loadu_si512(base + ((ox + t) * a.groups + g) * tap_bytes), w);
            }
          }
        }
        for (int t = 0; t < 4; ++t) finish(acc[t], ox + t);
      }
      for (; ox < s.out_w; ++ox) {
        __m512i acc = _mm512_setzero_si512();
        for (int64_t ky = 0; ky < kernel_h; ++ky) {
          const uint8_t* base = window[ky] + c * 4;
          for (int64_t g = 0; g < a.groups; ++g) {
            acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(base + (ox * a.groups + g) * tap_bytes),
                                      _mm512_loadu_si512(weights + (ky * a.groups + g) * tap_bytes));
          }
        }
        finish(acc, ox);
      }
    }
  }
}

using RowsFunction = void (*)(const RowArgs&, int64_t, int64_t);

template <ActivationKind kKind>
RowsFunction rows_for_output(ConvOutput dst) {
  if (dst == ConvOutput::kF32) return rows_vnni<kKind, ConvOutput::kF32>;
  if (dst == ConvOutput::kU8) return rows_vnni<kKind, ConvOutput::kU8>;
  return rows_vnni<kKind, ConvOutput::kS8>;
}

RowsFunction rows_for(ActivationKind kind, ConvOutput dst) {
  switch (kind) {
    case ActivationKind::kNone: return rows_for_output<ActivationKind::kNone>(dst);
    case ActivationKind::kRelu: return rows_for_output<ActivationKind::kRelu>(dst);
    case ActivationKind::kClip: return rows_for_output<ActivationKind::kClip>(dst);
    case ActivationKind::kLeakyRelu: return rows_for_output<ActivationKind::kLeakyRelu>(dst);
    case ActivationKind::kSigmoid: return rows_for_output<ActivationKind::kSigmoid>(dst);
    case ActivationKind::kHardSigmoid: return rows_for_output<ActivationKind::kHardSigmoid>(dst);
    case ActivationKind::kHardSwish: return rows_for_output<ActivationKind::kHardSwish>(dst);
    case ActivationKind::kSiLU: return rows_for_output<ActivationKind::kSiLU>(dst);
    case ActivationKind::kGelu: break;  // refused (runtime/kestrel_kernels.cc)
  }
  return rows_for_output<ActivationKind::kNone>(dst);
}

bool fast_path() { return use_avx512_kernels() && depthwise_int8_fast_path_available(); }

struct RunContext {
  const DepthwiseInt8* kernel;
  const void* src;
  void* dst;
};

void run_range(const void* context, int thread, int64_t begin, int64_t end) {
  const auto* c = static_cast<const RunContext*>(context);
  c->kernel->run_rows(c->src, c->dst, thread, begin, end);
}

}  // namespace

bool depthwise_int8_fast_path_available() {
  static const bool available = [] {
    const uint64_t need = feature_bit(CpuFeature::kAvx512F) | feature_bit(CpuFeature::kAvx512BW) |
                          feature_bit(CpuFeature::kAvx512VL) | feature_bit(CpuFeature::kAvx512Vnni);
    return (cpu_features() & need) == need && __builtin_cpu_supports("avx512vbmi");
  }();
  return available;
}

DepthwiseInt8::DepthwiseInt8(const DepthwiseShape& shape, ByteType src_type, ConvOutput dst_type, const int8_t* weights,
                             const int32_t* bias, const std::vector<float>& output_scales, Activation activation,
                             float post_scale)
    : shape_(shape),
      src_type_(src_type),
      dst_type_(dst_type),
      activation_(activation),
      post_scale_(post_scale),
      padded_channels_((shape.channels + kLanes - 1) / kLanes * kLanes),
      groups_((shape.kernel_w + 3) / 4) {
  const int64_t taps = shape.kernel_h * shape.kernel_w, channels = shape.channels, padded = padded_channels_;
  weights_.resize(static_cast<size_t>(taps * channels));
  packed_.assign(static_cast<size_t>(shape.kernel_h * groups_ * padded * 4), 0);
  offset_sum_.assign(static_cast<size_t>(padded), 0);
  bias_.assign(static_cast<size_t>(padded), 0.0f);
  scale_.assign(static_cast<size_t>(padded), 0.0f);
  for (int64_t c = 0; c < channels; ++c) {
    int32_t sum = 0;
    for (int64_t ky = 0; ky < shape.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < shape.kernel_w; ++kx) {
        const int8_t w = weights[(c * shape.kernel_h + ky) * shape.kernel_w + kx];
        weights_[static_cast<size_t>((ky * shape.kernel_w + kx) * channels + c)] = w;
        packed_[static_cast<size_t>(((ky * groups_ + kx / 4) * padded + c) * 4 + kx % 4)] = w;
        sum += w;
      }
    }
    offset_sum_[static_cast<size_t>(c)] = src_type == ByteType::kS8 ? 128 * sum : 0;
    bias_[static_cast<size_t>(c)] = bias != nullptr ? static_cast<float>(bias[c]) : 0.0f;
    scale_[static_cast<size_t>(c)] = output_scales[output_scales.size() == 1 ? 0 : static_cast<size_t>(c)];
  }
  slots_ = std::max(1, max_threads());
  // Per thread: kernel_h laid-out rows and, last, the padding row (written
  // once, here: bytes that read as 0).
  row_bytes_ = shape.out_w * groups_ * padded * 4;
  const uint8_t pad = src_type == ByteType::kS8 ? 0x80 : 0;
  if (fast_path()) scratch_.assign(static_cast<size_t>(slots_ * (shape.kernel_h + 1) * row_bytes_), pad);
}

void DepthwiseInt8::run_rows(const void* src, void* dst, int slot, int64_t begin, int64_t end) const {
  if (fast_path() && !scratch_.empty()) {
    const RowArgs args{
        .s = &shape_,
        .padded = padded_channels_,
        .groups = groups_,
        .packed = packed_.data(),
        .offset_sum = offset_sum_.data(),
        .bias = bias_.data(),
        .scale = scale_.data(),
        .activation = activation_,
        .post_scale = post_scale_,
        .src = static_cast<const uint8_t*>(src),
        .dst = dst,
        .rows = scratch_.data() + static_cast<size_t>(slot * (shape_.kernel_h + 1) * row_bytes_),
        .flip = src_type_ == ByteType::kS8,
    };
    rows_for(activation_.kind, dst_type_)(args, begin, end);
    return;
  }
  if (src_type_ == ByteType::kU8) {
    rows_portable(shape_, weights_.data(), bias_.data(), scale_.data(), activation_, post_scale_, dst_type_,
                  typed<uint8_t>(src), dst, begin, end);
  } else {
    rows_portable(shape_, weights_.data(), bias_.data(), scale_.data(), activation_, post_scale_, dst_type_,
                  typed<int8_t>(src), dst, begin, end);
  }
}

void DepthwiseInt8::run(const void* src, void* dst) const {
  const RunContext context{this, src, dst};
  parallel_for(shape_.batch * shape_.out_h, run_range, &context, slots_);
}

}  // namespace kestrel::cpu
