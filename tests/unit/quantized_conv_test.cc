// The int8 conv: oneDNN's kernel (u8/s8 activations, s8 weights, s32 bias,
// output scales, sum and activation post-ops) against the reference
// QFusedConv on random shapes and data. Every test prints its seed; replay a
// failure with KESTREL_TEST_SEED=<seed>.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/activation.h"
#include "kernels/onednn/onednn_kernels.h"
#include "kernels/quantized_conv.h"
#include "test_paths.h"
#include "test_seed.h"
#include "unit/kernel_test_util.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

using onednn::ConvParams;
using onednn::ElementType;
using Ints = std::vector<int64_t>;

int64_t uniform_int(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

DType dtype_of(ElementType type) {
  return type == ElementType::kU8 ? DType::kUInt8 : type == ElementType::kS8 ? DType::kInt8 : DType::kFloat32;
}

Tensor random_bytes(std::mt19937& rng, DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  const int64_t lo = dtype == DType::kUInt8 ? 0 : -128, hi = dtype == DType::kUInt8 ? 255 : 127;
  for (int64_t i = 0; i < t.size(); ++i) {
    const int64_t v = uniform_int(rng, lo, hi);
    if (dtype == DType::kFloat32) {  // a float residual, in the same range
      t.data<float>()[i] = static_cast<float>(v) * 0.5f;
      continue;
    }
    if (dtype == DType::kUInt8) t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else t.data<int8_t>()[i] = static_cast<int8_t>(v);
  }
  return t;
}

// Element-size-generic NCHW <-> NHWC.
Tensor transpose_4d(const Tensor& x, bool to_nhwc) {
  const Shape& s = x.shape();
  const int64_t n = s[0], c = to_nhwc ? s[1] : s[3], h = to_nhwc ? s[2] : s[1], w = to_nhwc ? s[3] : s[2];
  Tensor y(x.dtype(), to_nhwc ? Shape{n, h, w, c} : Shape{n, c, h, w});
  const size_t size = dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  auto* dst = static_cast<uint8_t*>(y.raw_data());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < h * w; ++i) {
        const int64_t nchw = (b * c + k) * h * w + i, nhwc = (b * h * w + i) * c + k;
        std::memcpy(dst + (to_nhwc ? nhwc : nchw) * size, src + (to_nhwc ? nchw : nhwc) * size, size);
      }
  return y;
}

ConvParams random_int8_conv(std::mt19937& rng) {
  ConvParams p;
  p.batch = uniform_int(rng, 1, 2);
  const int64_t kind = uniform_int(rng, 0, 9);
  if (kind <= 6) {
    p.in_channels = uniform_int(rng, 1, 48), p.out_channels = uniform_int(rng, 1, 48);
  } else {
    p.groups = p.in_channels = p.out_channels = uniform_int(rng, 1, 48);  // depthwise
  }
  p.kernel_h = p.kernel_w = uniform_int(rng, 0, 1) ? 3 : 1;
  p.stride_h = p.stride_w = uniform_int(rng, 1, 2);
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = p.kernel_h / 2;
  p.in_h = uniform_int(rng, 1, 12), p.in_w = uniform_int(rng, 1, 12);
  p.out_h = (p.in_h + 2 * p.pad_top - p.kernel_h) / p.stride_h + 1;
  p.out_w = (p.in_w + 2 * p.pad_left - p.kernel_w) / p.stride_w + 1;
  p.src_type = uniform_int(rng, 0, 1) ? ElementType::kU8 : ElementType::kS8;
  const ElementType outputs[] = {ElementType::kU8, ElementType::kS8, ElementType::kF32};
  p.dst_type = outputs[uniform_int(rng, 0, 2)];
  // A float32 output takes a float32 residual (a block whose output leaves
  // the int8 region), an int8 one a byte residual.
  p.sum = uniform_int(rng, 0, 1);
  p.sum_type = p.sum && p.dst_type != ElementType::kF32 ? (uniform_int(rng, 0, 1) ? ElementType::kU8 : ElementType::kS8)
                                                        : ElementType::kF32;
  p.sum_scale = std::uniform_real_distribution<float>(0.2f, 1.5f)(rng);
  const int64_t activation = uniform_int(rng, 0, 2);
  if (activation == 1) p.activation.kind = ActivationKind::kRelu;
  if (activation == 2) p.activation = {ActivationKind::kClip, 0.0f, static_cast<float>(uniform_int(rng, 20, 200))};
  // Scales that make outputs span (and saturate) the 8-bit range.
  const int64_t taps = p.kernel_h * p.kernel_w * (p.in_channels / p.groups);
  std::uniform_real_distribution<float> scale(0.2f / static_cast<float>(taps * 64),
                                              3.0f / static_cast<float>(taps * 64));
  const int64_t scales = uniform_int(rng, 0, 1) ? p.out_channels : 1;
  for (int64_t i = 0; i < scales; ++i) p.output_scales.push_back(scale(rng));
  return p;
}

struct Mismatch {
  int64_t count = 0, beyond_one = 0;
};

// Runs both kernels on the same data; returns how many outputs differ.
Mismatch compare(const ConvParams& p, std::mt19937& rng) {
  const Tensor x = random_bytes(rng, dtype_of(p.src_type), {p.batch, p.in_channels, p.in_h, p.in_w});
  const Tensor w = random_bytes(rng, DType::kInt8, {p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w});
  Tensor b(DType::kInt32, {p.out_channels});
  for (int64_t i = 0; i < b.size(); ++i) b.data<int32_t>()[i] = static_cast<int32_t>(uniform_int(rng, -20000, 20000));
  const Shape out = {p.batch, p.out_channels, p.out_h, p.out_w};
  const Tensor sum = p.sum ? random_bytes(rng, dtype_of(p.sum_type), out) : Tensor();
  Attributes attrs;
  attrs.set("kernel_shape", Ints{p.kernel_h, p.kernel_w});
  attrs.set("strides", Ints{p.stride_h, p.stride_w});
  attrs.set("pads", Ints{p.pad_top, p.pad_left, p.pad_bottom, p.pad_right});
  attrs.set("group", p.groups);
  attrs.set(kOutputScalesAttr, p.output_scales);
  attrs.set(kSumScaleAttr, p.sum_scale);
  attrs.set(kOutputTypeAttr, dtype_name(dtype_of(p.dst_type)));
  if (p.post_scale != 1.0f) attrs.set(kPostScaleAttr, p.post_scale);
  set_activation_attributes(p.activation, attrs);
  std::vector<Tensor> inputs = {x, w, b};
  if (p.sum) inputs.push_back(sum);
  auto ref = run_op(kQuantizedConvOp, inputs, attrs);
  KESTREL_CHECK_OK(ref);
  auto conv = onednn::ConvPrimitive::create(p, w, &b);
  KESTREL_CHECK_OK(conv);
  if (!ref.ok() || !conv.ok()) return {1, 1};
  const DType out_type = dtype_of(p.dst_type);
  Tensor dst(out_type, {p.batch, p.out_h, p.out_w, p.out_channels});
  if (p.sum) std::memcpy(dst.raw_data(), transpose_4d(sum, true).raw_data(), dst.nbytes());  // the residual's bytes
  conv.value()->run(transpose_4d(x, true).raw_data(), dst.raw_data());
  const Tensor actual = transpose_4d(dst, false);
  const Tensor& expected = ref.value()[0];
  Mismatch mismatch;
  for (int64_t i = 0; i < expected.size(); ++i) {
    double a = 0, e = 0;
    if (out_type == DType::kUInt8) a = actual.data<uint8_t>()[i], e = expected.data<uint8_t>()[i];
    if (out_type == DType::kInt8) a = actual.data<int8_t>()[i], e = expected.data<int8_t>()[i];
    if (out_type == DType::kFloat32) {
      a = actual.data<float>()[i], e = expected.data<float>()[i];
      if (std::fabs(a - e) <= 1e-5 * (1 + std::fabs(e))) continue;
    }
    if (a != e) ++mismatch.count;
    if (std::fabs(a - e) > 1) ++mismatch.beyond_one;
  }
  return mismatch;
}

std::string describe(const ConvParams& p) {
  return str_cat("int8 conv N", p.batch, " C", p.in_channels, " ", p.in_h, "x", p.in_w, " -> M", p.out_channels, " k",
                 p.kernel_h, " s", p.stride_h, " g", p.groups, " src ", static_cast<int>(p.src_type), " dst ",
                 static_cast<int>(p.dst_type), " sum ", p.sum, "/", static_cast<int>(p.sum_type), " act ",
                 activation_name(p.activation.kind), " scales ", p.output_scales.size(), " post ", p.post_scale);
}

TEST(QuantizedConv, OneDnnMatchesReferenceOnRandomShapes) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 60; ++trial) {
    const ConvParams p = random_int8_conv(rng);
    SCOPED_TRACE(describe(p));
    const Mismatch mismatch = compare(p, rng);
    // Integer accumulation is exact; the one float requantization step may
    // round a value lying on a .5 tie differently when oneDNN fuses the
    // multiply and add (FMA): never by more than one step.
    EXPECT_EQ(mismatch.beyond_one, 0);
    EXPECT_LE(mismatch.count, 2) << "outputs differing by one step";
  }
}

TEST(QuantizedConv, WithoutSumIsBitExact) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 30; ++trial) {
    ConvParams p = random_int8_conv(rng);
    p.sum = false;
    SCOPED_TRACE(describe(p));
    EXPECT_EQ(compare(p, rng).count, 0);
  }
}

// SiLU, Sigmoid, HardSwish, HardSigmoid and Gelu do not commute with scaling: the
// conv computes them on real values (output_scales in real units) and
// post_scale maps the result to the int8 output's units.
TEST(QuantizedConv, NonCommutingActivationsRunOnRealValues) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  const ActivationKind kinds[] = {ActivationKind::kSiLU, ActivationKind::kSigmoid, ActivationKind::kHardSwish,
                                  ActivationKind::kHardSigmoid, ActivationKind::kGelu};
  int64_t outputs = 0, differing = 0;
  for (int trial = 0; trial < 40; ++trial) {
    ConvParams p = random_int8_conv(rng);
    if (p.dst_type == ElementType::kF32) p.dst_type = ElementType::kS8, p.sum = false;
    p.activation = {kinds[trial % 5], 0.0f, 0.0f};
    if (p.activation.kind == ActivationKind::kHardSigmoid) p.activation = {ActivationKind::kHardSigmoid, 0.2f, 0.5f};
    // Real values spanning about [-4, 4] (where the activations bend), then
    // post_scale to the 8-bit range so that outputs also saturate.
    constexpr float kToReal = 1.0f / 30.0f;
    for (float& scale : p.output_scales) scale *= kToReal;
    p.sum_scale *= kToReal;
    p.post_scale = std::uniform_real_distribution<float>(20.0f, 200.0f)(rng);
    SCOPED_TRACE(describe(p));
    const Mismatch mismatch = compare(p, rng);
    EXPECT_EQ(mismatch.beyond_one, 0);
    outputs += p.batch * p.out_channels * p.out_h * p.out_w;
    differing += mismatch.count;
  }
  // oneDNN approximates exp (SiLU, Sigmoid) to a few ulps: a value within
  // that of a rounding tie may land one step away, rarely.
  EXPECT_LE(differing, outputs / 200) << differing << " of " << outputs << " outputs differ by one step";
}

TEST(QuantizedConv, SaturatesAtTheTypeLimits) {
  ConvParams p;
  p.in_channels = p.out_channels = 1;
  p.in_h = p.in_w = p.out_h = p.out_w = 2;
  p.src_type = ElementType::kU8;
  p.dst_type = ElementType::kS8;
  p.output_scales = {1.0f};
  Tensor x(DType::kUInt8, {1, 1, 2, 2}), w(DType::kInt8, {1, 1, 1, 1}), b(DType::kInt32, {1});
  const uint8_t pixels[] = {0, 1, 200, 255};
  std::memcpy(x.raw_data(), pixels, 4);
  w.data<int8_t>()[0] = -127;
  b.data<int32_t>()[0] = 100;
  auto conv = onednn::ConvPrimitive::create(p, w, &b);
  ASSERT_TRUE(conv.ok()) << conv.status().message();
  Tensor dst(DType::kInt8, {1, 2, 2, 1});
  conv.value()->run(x.raw_data(), dst.raw_data());
  // 100 + 0, 100 - 127, 100 - 25400 (saturates), 100 - 32385 (saturates)
  EXPECT_EQ(values_of<int8_t>(dst), (std::vector<int8_t>{100, -27, -128, -128}));
  Attributes attrs;
  attrs.set("kernel_shape", Ints{1, 1});
  attrs.set(kOutputScalesAttr, std::vector<float>{1.0f});
  attrs.set(kOutputTypeAttr, std::string("int8"));
  auto ref = run_op(kQuantizedConvOp, {x, w, b}, attrs);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  EXPECT_EQ(values_of<int8_t>(ref.value()[0]), values_of<int8_t>(dst));
}

TEST(QuantizedConv, RejectsBadAttributes) {
  Tensor x(DType::kUInt8, {1, 2, 3, 3}), w(DType::kInt8, {4, 2, 1, 1});
  Attributes attrs;
  attrs.set("kernel_shape", Ints{1, 1});
  attrs.set(kOutputScalesAttr, std::vector<float>{1.0f, 2.0f});
  attrs.set(kOutputTypeAttr, std::string("uint8"));
  expect_error(run_op(kQuantizedConvOp, {x, w}, attrs), kQuantizedConvOp);
  attrs.set(kOutputScalesAttr, std::vector<float>{1.0f});
  attrs.set(kOutputTypeAttr, std::string("int4"));
  expect_error(run_op(kQuantizedConvOp, {x, w}, attrs), kQuantizedConvOp);
  attrs.set(kOutputTypeAttr, std::string("uint8"));
  expect_error(run_op(kQuantizedConvOp, {Tensor(DType::kFloat32, {1, 2, 3, 3}), w}, attrs), kQuantizedConvOp);
}

}  // namespace
}  // namespace kestrel::testing

namespace kestrel::testing {
namespace {

// The packed layout can depend on the thread count (oneDNN picks another
// kernel): weights packed with 2 threads must still load, and give the same
// results, in a 1-thread session. Which shapes and types change layout
// depends on the CPU (AVX-512 VNNI on AMD Zen, AMX on recent Xeons), so the
// test tries several, int8 and float32, and requires that one repacks.
TEST(QuantizedConv, WeightsPackedForAnotherThreadCountStillLoad) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  struct Case {
    int64_t batch, in_channels, out_channels, size, kernel;
  };
  // MobileNetV2's 1x1 96->576 on 14x14, ResNet-50's 3x3 64->64 on 56x56 and
  // 1x1 256->64, the bundled CNN's 3x3 convs (batch 3), a 3x3 128->128 on 7x7.
  const Case cases[] = {{1, 96, 576, 14, 1}, {1, 64, 64, 56, 3}, {1, 256, 64, 56, 1}, {3, 1, 32, 28, 3},
                        {3, 32, 32, 28, 3},  {3, 32, 64, 14, 3}, {3, 64, 64, 14, 3},  {1, 128, 128, 7, 3}};
  int repacked = 0;
  const int threads = onednn::num_threads();
  for (const bool int8 : {true, false}) {
    for (const Case& shape : cases) {
      SCOPED_TRACE(str_cat(int8 ? "int8 " : "float32 ", shape.batch, "x", shape.in_channels, "->", shape.out_channels,
                           " ", shape.kernel, "x", shape.kernel, " on ", shape.size, "x", shape.size));
      ConvParams p;
      p.batch = shape.batch, p.in_channels = shape.in_channels, p.out_channels = shape.out_channels;
      p.in_h = p.in_w = p.out_h = p.out_w = shape.size;
      p.kernel_h = p.kernel_w = shape.kernel;
      p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = shape.kernel / 2;
      const DType in_type = int8 ? DType::kInt8 : DType::kFloat32, out_type = int8 ? DType::kUInt8 : DType::kFloat32;
      Tensor b(int8 ? DType::kInt32 : DType::kFloat32, {p.out_channels});
      Tensor w(in_type, {p.out_channels, p.in_channels, p.kernel_h, p.kernel_w});
      Tensor x(in_type, {p.batch, p.in_h, p.in_w, p.in_channels});  // NHWC
      if (int8) {
        p.src_type = ElementType::kS8;
        p.dst_type = ElementType::kU8;
        p.activation = {ActivationKind::kClip, 0.0f, 200.0f};
        for (int64_t o = 0; o < p.out_channels; ++o) p.output_scales.push_back(1.0f / 2048);
        w = random_bytes(rng, DType::kInt8, w.shape());
        x = random_bytes(rng, DType::kInt8, x.shape());
        for (int64_t i = 0; i < b.size(); ++i)
          b.data<int32_t>()[i] = static_cast<int32_t>(uniform_int(rng, -5000, 5000));
      } else {
        w = random_tensor(rng, DType::kFloat32, w.shape());
        x = random_tensor(rng, DType::kFloat32, x.shape());
        b = random_tensor(rng, DType::kFloat32, b.shape());
      }
      onednn::set_num_threads(2);
      auto packed_for_two = onednn::ConvPrimitive::create(p, w, &b);
      ASSERT_TRUE(packed_for_two.ok()) << packed_for_two.status().message();
      const onednn::PackedWeights packed = packed_for_two.value()->packed_weights();
      onednn::set_num_threads(1);
      auto loaded = onednn::ConvPrimitive::create_cached(p, w, packed, &b);
      auto direct = onednn::ConvPrimitive::create(p, w, &b);
      onednn::set_num_threads(threads);
      ASSERT_TRUE(loaded.ok()) << loaded.status().message();
      ASSERT_TRUE(direct.ok()) << direct.status().message();
      if (!loaded.value()->weights_used_in_place()) ++repacked;
      const Shape out_shape = {p.batch, p.out_h, p.out_w, p.out_channels};
      Tensor a(out_type, out_shape), c(out_type, out_shape);
      loaded.value()->run(x.raw_data(), a.raw_data());
      direct.value()->run(x.raw_data(), c.raw_data());
      if (int8) {
        EXPECT_EQ(values_of<uint8_t>(a), values_of<uint8_t>(c));
      } else {
        // Both run the 1-thread kernel on the same weights: the same sums.
        EXPECT_EQ(differing_bytes(a, c), 0);
      }
    }
  }
  EXPECT_GT(repacked, 0) << "every layout agrees on this CPU: the test no longer exercises repacking (add a case)";
}

}  // namespace
}  // namespace kestrel::testing
