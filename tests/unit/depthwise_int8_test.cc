// Kestrel's int8 depthwise kernel (kernels/cpu/depthwise_int8.h), both its
// VNNI path and its portable path, against the reference QFusedConv on
// random shapes: windows 1x1 to 7x7 (square or not), strides 1-2,
// dilations 1-2, uneven padding, channel counts around the 16-lane
// vectors, int8/uint8 in, int8/uint8/float32 out, every fused activation,
// saturation. Bit-exact except Sigmoid/SiLU (the kernel's exp differs in
// the last bits: int8 results within 1, on under 1 % of the outputs).
// Replay a failure with KESTREL_TEST_SEED=<seed>.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/activation.h"
#include "kernels/cpu/depthwise_int8.h"
#include "kernels/quantized_conv.h"
#include "test_seed.h"
#include "unit/kernel_test_util.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

struct Case {
  cpu::DepthwiseShape shape;
  int64_t pad_bottom = 0, pad_right = 0;
  DType src = DType::kUInt8, dst = DType::kUInt8;
  Activation activation;
  float post_scale = 1.0f;
};

// A random case whose output is at least 1x1.
Case random_case(std::mt19937& rng) {
  for (;;) {
    Case c;
    cpu::DepthwiseShape& s = c.shape;
    s.batch = uniform_int(rng, 1, 2);
    s.channels = uniform_int(rng, 1, 70);
    s.in_h = uniform_int(rng, 1, 14);
    s.in_w = uniform_int(rng, 1, 14);
    const int64_t sizes[] = {1, 3, 3, 3, 5, 7};
    s.kernel_h = sizes[uniform_int(rng, 0, 5)];
    s.kernel_w = uniform_int(rng, 0, 3) == 0 ? sizes[uniform_int(rng, 0, 5)] : s.kernel_h;
    s.stride_h = uniform_int(rng, 1, 2);
    s.stride_w = uniform_int(rng, 0, 3) == 0 ? 3 - s.stride_h : s.stride_h;
    s.dilation_h = uniform_int(rng, 0, 4) == 0 ? 2 : 1;
    s.dilation_w = uniform_int(rng, 0, 4) == 0 ? 2 : 1;
    s.pad_top = uniform_int(rng, 0, s.kernel_h - 1);
    s.pad_left = uniform_int(rng, 0, s.kernel_w - 1);
    c.pad_bottom = uniform_int(rng, 0, s.kernel_h - 1);
    c.pad_right = uniform_int(rng, 0, s.kernel_w - 1);
    const int64_t span_h = (s.kernel_h - 1) * s.dilation_h + 1, span_w = (s.kernel_w - 1) * s.dilation_w + 1;
    s.out_h = (s.in_h + s.pad_top + c.pad_bottom - span_h) / s.stride_h + 1;
    s.out_w = (s.in_w + s.pad_left + c.pad_right - span_w) / s.stride_w + 1;
    if (s.in_h + s.pad_top + c.pad_bottom < span_h || s.in_w + s.pad_left + c.pad_right < span_w) continue;
    c.src = uniform_int(rng, 0, 1) ? DType::kInt8 : DType::kUInt8;
    const DType outputs[] = {DType::kInt8, DType::kUInt8, DType::kFloat32};
    c.dst = outputs[uniform_int(rng, 0, 2)];
    const ActivationKind kinds[] = {ActivationKind::kNone,      ActivationKind::kRelu,    ActivationKind::kClip,
                                    ActivationKind::kLeakyRelu, ActivationKind::kSigmoid, ActivationKind::kHardSigmoid,
                                    ActivationKind::kHardSwish, ActivationKind::kSiLU};
    c.activation.kind = kinds[uniform_int(rng, 0, 7)];
    if (c.activation.kind == ActivationKind::kClip) c.activation.alpha = 0.0f, c.activation.beta = 6.0f;
    if (c.activation.kind == ActivationKind::kLeakyRelu) c.activation.alpha = 0.1f;
    if (c.activation.kind == ActivationKind::kHardSigmoid) c.activation.alpha = 0.2f, c.activation.beta = 0.5f;
    // Activations on real units carry the output scale in post_scale.
    const bool real_units =
        c.activation.kind == ActivationKind::kSigmoid || c.activation.kind == ActivationKind::kSiLU ||
        c.activation.kind == ActivationKind::kHardSwish || c.activation.kind == ActivationKind::kHardSigmoid;
    c.post_scale = real_units ? std::uniform_real_distribution<float>(10.0f, 60.0f)(rng) : 1.0f;
    return c;
  }
}

Attributes reference_attrs(const Case& c, const std::vector<float>& scales) {
  const cpu::DepthwiseShape& s = c.shape;
  Attributes attrs;
  attrs.set("group", s.channels);
  attrs.set("kernel_shape", std::vector<int64_t>{s.kernel_h, s.kernel_w});
  attrs.set("strides", std::vector<int64_t>{s.stride_h, s.stride_w});
  attrs.set("dilations", std::vector<int64_t>{s.dilation_h, s.dilation_w});
  attrs.set("pads", std::vector<int64_t>{s.pad_top, s.pad_left, c.pad_bottom, c.pad_right});
  attrs.set(kOutputScalesAttr, scales);
  attrs.set(kOutputTypeAttr, dtype_name(c.dst));
  if (c.post_scale != 1.0f) attrs.set(kPostScaleAttr, c.post_scale);
  set_activation_attributes(c.activation, attrs);
  return attrs;
}

cpu::ConvOutput conv_output(DType dtype) {
  return dtype == DType::kFloat32 ? cpu::ConvOutput::kF32
         : dtype == DType::kUInt8 ? cpu::ConvOutput::kU8
                                  : cpu::ConvOutput::kS8;
}

// The kernel's result, back in NCHW.
Tensor run_kernel(const Case& c, const Tensor& x, const Tensor& w, const Tensor& bias,
                  const std::vector<float>& scales) {
  const cpu::DepthwiseInt8 kernel(c.shape, byte_type(c.src), conv_output(c.dst), w.data<int8_t>(), bias.data<int32_t>(),
                                  scales, c.activation, c.post_scale);
  const Tensor x_nhwc = transposed(x, true);
  const cpu::DepthwiseShape& s = c.shape;
  Tensor y(c.dst, {s.batch, s.out_h, s.out_w, s.channels});
  kernel.run(x_nhwc.raw_data(), y.raw_data());
  return transposed(y, false);
}

// Elements that differ, and the largest difference (in output units).
std::pair<int64_t, double> compare(const Tensor& a, const Tensor& b) {
  int64_t differ = 0;
  double largest = 0;
  for (int64_t i = 0; i < a.size(); ++i) {
    double x = 0, y = 0;
    if (a.dtype() == DType::kFloat32) x = a.data<float>()[i], y = b.data<float>()[i];
    if (a.dtype() == DType::kInt8) x = a.data<int8_t>()[i], y = b.data<int8_t>()[i];
    if (a.dtype() == DType::kUInt8) x = a.data<uint8_t>()[i], y = b.data<uint8_t>()[i];
    if (x != y) ++differ;
    largest = std::max(largest, std::fabs(x - y) / (a.dtype() == DType::kFloat32 ? std::max(1.0, std::fabs(y)) : 1.0));
  }
  return {differ, largest};
}

class DepthwiseInt8Kernel : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!GetParam() && !cpu::depthwise_int8_fast_path_available())
      GTEST_SKIP() << "this CPU lacks AVX-512 VNNI or VBMI: only the portable path runs here";
    cpu::force_portable_kernels(GetParam());
  }
  void TearDown() override { cpu::force_portable_kernels(false); }
};

TEST_P(DepthwiseInt8Kernel, MatchesReference) {
  SCOPED_TRACE(seed_trace());
  SCOPED_TRACE(GetParam() ? "portable path" : "VNNI path");
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 150; ++trial) {
    const Case c = random_case(rng);
    const cpu::DepthwiseShape& s = c.shape;
    SCOPED_TRACE(str_cat("trial ", trial, ": ", s.batch, "x", s.channels, "x", s.in_h, "x", s.in_w, " k", s.kernel_h,
                         "x", s.kernel_w, " s", s.stride_h, "x", s.stride_w, " d", s.dilation_h, "x", s.dilation_w,
                         " pads ", s.pad_top, ",", s.pad_left, ",", c.pad_bottom, ",", c.pad_right, " ",
                         dtype_name(c.src), " -> ", dtype_name(c.dst), " ", activation_name(c.activation.kind),
                         " post_scale ", c.post_scale));
    const Tensor x = random_tensor(rng, c.src, {s.batch, s.channels, s.in_h, s.in_w});
    const Tensor w = random_tensor(rng, DType::kInt8, {s.channels, 1, s.kernel_h, s.kernel_w});
    Tensor bias(DType::kInt32, {s.channels});
    for (int64_t i = 0; i < s.channels; ++i)
      bias.data<int32_t>()[i] = static_cast<int32_t>(uniform_int(rng, -30000, 30000));
    // Scales from "most outputs saturate" to "most land inside the range".
    std::vector<float> scales(uniform_int(rng, 0, 1) ? 1 : static_cast<size_t>(s.channels));
    const float top = c.post_scale != 1.0f ? 2e-4f : 5e-3f;
    for (float& scale : scales) scale = std::uniform_real_distribution<float>(top / 50.0f, top)(rng);
    auto expected = run_op(kQuantizedConvOp, {x, w, bias}, reference_attrs(c, scales));
    ASSERT_TRUE(expected.ok()) << expected.status().message();
    const Tensor got = run_kernel(c, x, w, bias, scales);
    ASSERT_EQ(got.shape(), expected->at(0).shape());
    const auto [differ, largest] = compare(got, expected->at(0));
    const bool exp_based = c.activation.kind == ActivationKind::kSigmoid || c.activation.kind == ActivationKind::kSiLU;
    if (!exp_based || GetParam()) {
      EXPECT_EQ(differ, 0) << "largest difference " << largest;
    } else if (c.dst == DType::kFloat32) {
      EXPECT_LE(largest, 1e-5) << differ << " elements differ";
    } else {
      EXPECT_LE(largest, 1.0);
      EXPECT_LE(differ, std::max<int64_t>(1, got.size() / 100)) << "of " << got.size();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, DepthwiseInt8Kernel, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Portable" : "Vnni"; });

}  // namespace
}  // namespace kestrel::testing
