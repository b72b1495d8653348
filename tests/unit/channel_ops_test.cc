// The squeeze-excitation ops: ChannelScale and QGlobalAveragePool's reference
// kernels on golden values, and Kestrel's NHWC kernels (AVX-512 and plain
// C++ paths) against them on random shapes, bit-exact. Replay a failure
// with KESTREL_TEST_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "kernels/activation.h"
#include "kernels/channel_ops.h"
#include "kernels/cpu/channel_kernels.h"
#include "kernels/quantized_conv.h"
#include "test_seed.h"
#include "unit/kernel_test_util.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

Attributes int8_attrs(float requant, DType out) {
  Attributes attrs;
  attrs.set(kRequantScaleAttr, requant);
  attrs.set(kOutputTypeAttr, dtype_name(out));
  return attrs;
}

// One clear refusal: invalid argument, naming the node and the reason.
void expect_refused(const StatusOr<std::vector<Tensor>>& result, const std::string& op, const std::string& reason) {
  expect_error(result, op);
  if (!result.ok()) {
    EXPECT_NE(result.status().message().find(reason), std::string::npos) << result.status().message();
  }
}

TEST(ChannelOps, ReferenceScaleGolden) {
  // X [1, 2, 1, 3] int8, S = {0.5, 2}, requant 1: 2.5 rounds to 2 (half to
  // even), 100 * 2 saturates to 127, -3 * 0.5 = -1.5 rounds to -2.
  const Tensor x = Tensor::from_vector<int8_t>({1, 2, 1, 3}, {5, -3, 1, 100, -70, 0});
  const Tensor s = Tensor::from_vector<float>({1, 2, 1, 1}, {0.5f, 2.0f});
  auto y = run_op(kChannelScaleOp, {x, s}, int8_attrs(1.0f, DType::kInt8));
  ASSERT_TRUE(y.ok()) << y.status().message();
  const std::vector<int8_t> expected = {2, -2, 0, 127, -128, 0};
  EXPECT_EQ(std::vector<int8_t>(y->at(0).data<int8_t>(), y->at(0).data<int8_t>() + 6), expected);
  // Float: a plain broadcast Mul.
  const Tensor xf = Tensor::from_vector<float>({1, 2, 1, 2}, {1.0f, -2.0f, 3.0f, 4.0f});
  auto yf = run_op(kChannelScaleOp, {xf, s}, {});
  ASSERT_TRUE(yf.ok()) << yf.status().message();
  expect_near(yf->at(0), {1, 2, 1, 2}, {0.5f, -1.0f, 6.0f, 8.0f}, 0.0f);
}

TEST(ChannelOps, ReferenceAverageGolden) {
  // Channel sums 10 and 1020 over 4 pixels, requant 0.5: 10 / 4 * 0.5 = 1.25
  // -> 1; 1020 / 4 * 0.5 = 127.5 -> 128 saturates to 127 for int8, 128 for uint8.
  const Tensor x = Tensor::from_vector<uint8_t>({1, 2, 2, 2}, {1, 2, 3, 4, 255, 255, 255, 255});
  for (DType out : {DType::kInt8, DType::kUInt8}) {
    auto y = run_op(kQuantizedGlobalAveragePoolOp, {x}, int8_attrs(0.5f, out));
    ASSERT_TRUE(y.ok()) << y.status().message();
    ASSERT_EQ(y->at(0).shape(), (Shape{1, 2, 1, 1}));
    if (out == DType::kInt8) EXPECT_EQ(y->at(0).data<int8_t>()[1], 127);
    else EXPECT_EQ(y->at(0).data<uint8_t>()[1], 128);
    EXPECT_EQ(out == DType::kInt8 ? y->at(0).data<int8_t>()[0] : y->at(0).data<uint8_t>()[0], 1);
  }
}

TEST(ChannelOps, ReferenceAffineGolden) {
  // fma(x, scale[c], shift[c]): channel 0 doubles and adds 1, channel 1 negates.
  const Tensor x = Tensor::from_vector<float>({1, 2, 1, 2}, {1.0f, -2.0f, 3.0f, 0.5f});
  const Tensor scale = Tensor::from_vector<float>({2}, {2.0f, -1.0f});
  const Tensor shift = Tensor::from_vector<float>({2}, {1.0f, 0.0f});
  auto y = run_op(kChannelAffineOp, {x, scale, shift});
  ASSERT_TRUE(y.ok()) << y.status().message();
  expect_near(y->at(0), {1, 2, 1, 2}, {3.0f, -3.0f, -3.0f, -0.5f}, 0.0f);
  expect_refused(run_op(kChannelAffineOp, {x, Tensor::from_vector<float>({3}, {1, 1, 1}), shift}), kChannelAffineOp,
                 "Scale must be [2]");
}

TEST(ChannelOps, ReferenceShuffleGolden) {
  // 6 channels in 2 groups of 3: output channel k*2 + i is input i*3 + k.
  const Tensor x = Tensor::from_vector<float>({1, 6, 1, 1}, {0, 1, 2, 3, 4, 5});
  Attributes attrs;
  attrs.set(kGroupsAttr, int64_t{2});
  auto y = run_op(kChannelShuffleOp, {x}, attrs);
  ASSERT_TRUE(y.ok()) << y.status().message();
  expect_near(y->at(0), {1, 6, 1, 1}, {0, 3, 1, 4, 2, 5}, 0.0f);
  attrs.set(kGroupsAttr, int64_t{4});
  expect_refused(run_op(kChannelShuffleOp, {x}, attrs), kChannelShuffleOp, "groups 4 does not divide 6 channels");
}

TEST(ChannelOps, ReferenceQuantizedConcatGolden) {
  // A uint8 part copied (scale 1) and an int8 part requantized by 0.5 into a
  // uint8 output: -3 * 0.5 = -1.5 rounds to -2 and saturates to 0; 101 * 0.5
  // = 50.5 rounds to 50 (half to even).
  const Tensor a = Tensor::from_vector<uint8_t>({1, 1, 1, 2}, {10, 255});
  const Tensor b = Tensor::from_vector<int8_t>({1, 1, 1, 2}, {-3, 101});
  Attributes attrs;
  attrs.set("axis", int64_t{1});
  attrs.set(kInputScalesAttr, std::vector<float>{1.0f, 0.5f});
  attrs.set(kOutputTypeAttr, std::string("uint8"));
  auto y = run_op(kQuantizedConcatOp, {a, b}, attrs);
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ(y->at(0).shape(), (Shape{1, 2, 1, 2}));
  const std::vector<uint8_t> expected = {10, 255, 0, 50};
  EXPECT_EQ(std::vector<uint8_t>(y->at(0).data<uint8_t>(), y->at(0).data<uint8_t>() + 4), expected);
  attrs.set(kInputScalesAttr, std::vector<float>{1.0f});
  expect_refused(run_op(kQuantizedConcatOp, {a, b}, attrs), kQuantizedConcatOp, "input_scales has 1 values for 2");
}

TEST(ChannelOps, RejectsBadShapesTypesAndAttributes) {
  const Tensor x = Tensor::from_vector<int8_t>({1, 2, 2, 1}, {1, 2, 3, 4});
  const Tensor s = Tensor::from_vector<float>({1, 2, 1, 1}, {1.0f, 1.0f});
  const Tensor wrong_s = Tensor::from_vector<float>({1, 3, 1, 1}, {1.0f, 1.0f, 1.0f});
  expect_refused(run_op(kChannelScaleOp, {x, wrong_s}, int8_attrs(1.0f, DType::kInt8)), kChannelScaleOp, "S [N,C,1,1]");
  expect_refused(run_op(kChannelScaleOp, {x, s}, int8_attrs(0.0f, DType::kInt8)), kChannelScaleOp,
                 "output_scale must be positive");
  expect_refused(run_op(kChannelScaleOp, {x, s}, int8_attrs(1.0f, DType::kFloat32)), kChannelScaleOp,
                 "output_type must be int8 or uint8");
  const Tensor xf = Tensor::from_vector<float>({1, 2, 2, 1}, {1, 2, 3, 4});
  expect_refused(run_op(kChannelScaleOp, {xf, s}, int8_attrs(1.0f, DType::kInt8)), kChannelScaleOp,
                 "takes no output_scale");
  expect_refused(run_op(kQuantizedGlobalAveragePoolOp, {xf}, int8_attrs(1.0f, DType::kInt8)),
                 kQuantizedGlobalAveragePoolOp, "X must be int8 or uint8");
}

class ChannelKernels : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override { cpu::force_portable_kernels(GetParam()); }
  void TearDown() override { cpu::force_portable_kernels(false); }
};

TEST_P(ChannelKernels, ScaleMatchesReferenceBitExact) {
  SCOPED_TRACE(seed_trace());
  SCOPED_TRACE(cpu::kernels_isa());
  std::mt19937 rng(test_seed());
  const DType types[] = {DType::kFloat32, DType::kInt8, DType::kUInt8};
  for (int trial = 0; trial < 60; ++trial) {
    // Channel counts around the 16-lane vectors (tails), 1x1 up to 9x9 pixels.
    const Shape shape = {uniform_int(rng, 1, 2), uniform_int(rng, 1, 70), uniform_int(rng, 1, 9),
                         uniform_int(rng, 1, 9)};
    const DType src = types[trial % 3];
    const DType dst = src == DType::kFloat32 ? src : types[1 + uniform_int(rng, 0, 1)];
    // Requant up to 4: products reach past the 8-bit range and saturate.
    const float requant = std::uniform_real_distribution<float>(0.05f, 4.0f)(rng);
    SCOPED_TRACE(str_cat(shape_string(shape), " ", dtype_name(src), " -> ", dtype_name(dst), " requant ", requant));
    const Tensor x = random_tensor(rng, src, shape);
    Tensor s = random_tensor(rng, DType::kFloat32, {shape[0], shape[1], 1, 1});
    for (int64_t i = 0; i < s.size(); ++i) s.data<float>()[i] = std::fabs(s.data<float>()[i]) / 3.0f;  // a sigmoid
    auto expected = run_op(kChannelScaleOp, {x, s}, src == DType::kFloat32 ? Attributes{} : int8_attrs(requant, dst));
    ASSERT_TRUE(expected.ok()) << expected.status().message();
    const Tensor x_nhwc = transposed(x, true);
    Tensor y_nhwc(dst, x_nhwc.shape());
    const int64_t pixels = shape[2] * shape[3];
    if (src == DType::kFloat32) {
      cpu::channel_scale_f32(x_nhwc.data<float>(), s.data<float>(), y_nhwc.data<float>(), shape[0], pixels, shape[1]);
    } else {
      std::vector<float> multiplier(static_cast<size_t>(s.size()));
      for (size_t i = 0; i < multiplier.size(); ++i) multiplier[i] = s.data<float>()[i] * requant;
      cpu::channel_scale_int8(x_nhwc.raw_data(), byte_type(src), multiplier.data(), y_nhwc.raw_data(), byte_type(dst),
                              shape[0], pixels, shape[1]);
    }
    EXPECT_EQ(differing_bytes(transposed(y_nhwc, false), expected->at(0)), 0);
  }
}

TEST_P(ChannelKernels, AverageMatchesReferenceBitExact) {
  SCOPED_TRACE(seed_trace());
  SCOPED_TRACE(cpu::kernels_isa());
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 60; ++trial) {
    const Shape shape = {uniform_int(rng, 1, 2), uniform_int(rng, 1, 70), uniform_int(rng, 1, 12),
                         uniform_int(rng, 1, 12)};
    const DType src = uniform_int(rng, 0, 1) ? DType::kInt8 : DType::kUInt8;
    const DType dst = uniform_int(rng, 0, 1) ? DType::kInt8 : DType::kUInt8;
    const float requant = std::uniform_real_distribution<float>(0.2f, 3.0f)(rng);
    SCOPED_TRACE(str_cat(shape_string(shape), " ", dtype_name(src), " -> ", dtype_name(dst), " requant ", requant));
    const Tensor x = random_tensor(rng, src, shape);
    auto expected = run_op(kQuantizedGlobalAveragePoolOp, {x}, int8_attrs(requant, dst));
    ASSERT_TRUE(expected.ok()) << expected.status().message();
    const Tensor x_nhwc = transposed(x, true);
    Tensor y(dst, {shape[0], shape[1], 1, 1});
    std::vector<int32_t> sums(static_cast<size_t>(shape[1]));
    const int64_t pixels = shape[2] * shape[3];
    cpu::global_average_int8(x_nhwc.raw_data(), byte_type(src), average_multiplier(requant, pixels), sums.data(),
                             y.raw_data(), byte_type(dst), shape[0], pixels, shape[1]);
    EXPECT_EQ(differing_bytes(y, expected->at(0)), 0);
  }
}

TEST_P(ChannelKernels, AffineMatchesReferenceBitExact) {
  SCOPED_TRACE(seed_trace());
  SCOPED_TRACE(cpu::kernels_isa());
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 40; ++trial) {
    const Shape shape = {uniform_int(rng, 1, 2), uniform_int(rng, 1, 70), uniform_int(rng, 1, 9),
                         uniform_int(rng, 1, 9)};
    SCOPED_TRACE(shape_string(shape));
    const Tensor x = random_tensor(rng, DType::kFloat32, shape);
    const Tensor scale = random_tensor(rng, DType::kFloat32, {shape[1]});
    const Tensor shift = random_tensor(rng, DType::kFloat32, {shape[1]});
    const bool relu = trial % 2 == 1;  // a fused Relu
    Attributes attrs;
    if (relu) set_activation_attributes(Activation{ActivationKind::kRelu}, attrs);
    auto expected = run_op(kChannelAffineOp, {x, scale, shift}, attrs);
    ASSERT_TRUE(expected.ok()) << expected.status().message();
    const Tensor x_nhwc = transposed(x, true);
    Tensor y_nhwc(DType::kFloat32, x_nhwc.shape());
    cpu::channel_affine_f32(x_nhwc.data<float>(), scale.data<float>(), shift.data<float>(), y_nhwc.data<float>(),
                            shape[0], shape[2] * shape[3], shape[1], relu);
    EXPECT_EQ(differing_bytes(transposed(y_nhwc, false), expected->at(0)), 0);
  }
}

TEST_P(ChannelKernels, LayerNormMatchesReference) {
  SCOPED_TRACE(seed_trace());
  SCOPED_TRACE(cpu::kernels_isa());
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 40; ++trial) {
    const Shape shape = {uniform_int(rng, 1, 5), uniform_int(rng, 1, 40)};
    const bool bias = trial % 2 == 0;
    SCOPED_TRACE(str_cat(shape_string(shape), bias ? " with B" : " without B"));
    Tensor x = random_tensor(rng, DType::kFloat32, shape);
    for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = 3.0f + 2.0f * x.data<float>()[i];  // an offset mean
    const Tensor scale = random_tensor(rng, DType::kFloat32, {shape[1]});
    const Tensor shift = random_tensor(rng, DType::kFloat32, {shape[1]});
    Attributes attrs;
    attrs.set("epsilon", 1e-5f);
    auto expected =
        bias ? run_op("LayerNormalization", {x, scale, shift}, attrs) : run_op("LayerNormalization", {x, scale}, attrs);
    ASSERT_TRUE(expected.ok()) << expected.status().message();
    Tensor y(DType::kFloat32, shape);
    cpu::layer_norm_f32(x.data<float>(), scale.data<float>(), bias ? shift.data<float>() : nullptr, y.data<float>(),
                        shape[0], shape[1], 1e-5f);
    for (int64_t i = 0; i < y.size(); ++i) {
      // Sums in another order: a few ulps of the normalized values.
      EXPECT_NEAR(y.data<float>()[i], expected->at(0).data<float>()[i], 2e-5f * (1.0f + std::fabs(y.data<float>()[i])))
          << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, ChannelKernels, ::testing::Values(false, true),
                         [](const auto& info) { return std::string(info.param ? "Portable" : "Native"); });

}  // namespace
}  // namespace kestrel::testing
