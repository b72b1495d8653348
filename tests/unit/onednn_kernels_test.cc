// The oneDNN primitives against Kestrel's reference kernels on randomized
// shapes. The reference ops work on NCHW; the primitives on NHWC, so inputs
// and outputs are transposed here. Every test prints its seed; replay a
// failure with KESTREL_TEST_SEED=<seed>.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <dnnl.hpp>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_kernels.h"
#include "test_seed.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

using onednn::ConvParams;
using onednn::InnerProductParams;
using onednn::PoolKind;
using onednn::PoolParams;
using Ints = std::vector<int64_t>;

int64_t uniform_int(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

float uniform_float(std::mt19937& rng, float lo, float hi) {
  return std::uniform_real_distribution<float>(lo, hi)(rng);
}

Tensor random_tensor(std::mt19937& rng, Shape shape) {
  Tensor tensor(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < tensor.size(); ++i) tensor.data<float>()[i] = uniform_float(rng, -1.0f, 1.0f);
  return tensor;
}

// [N, C, H, W] -> [N, H, W, C] and back.
Tensor to_nhwc(const Tensor& x) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor y(DType::kFloat32, {n, h, w, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < h * w; ++i)
        y.data<float>()[(b * h * w + i) * c + k] = x.data<float>()[(b * c + k) * h * w + i];
  return y;
}

Tensor to_nchw(const Tensor& y) {
  const int64_t n = y.dim(0), h = y.dim(1), w = y.dim(2), c = y.dim(3);
  Tensor x(DType::kFloat32, {n, c, h, w});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < h * w; ++i)
        x.data<float>()[(b * c + k) * h * w + i] = y.data<float>()[(b * h * w + i) * c + k];
  return x;
}

// FP32 with a different summation order: max |diff| <= 1e-4 * (1 + max |ref|).
void expect_close(const float* actual, const Tensor& ref) {
  float max_ref = 0.0f, max_diff = 0.0f;
  int64_t worst = 0;
  for (int64_t i = 0; i < ref.size(); ++i) {
    const float diff = std::fabs(actual[i] - ref.data<float>()[i]);
    max_ref = std::max(max_ref, std::fabs(ref.data<float>()[i]));
    if (!(diff <= max_diff)) max_diff = diff, worst = i;  // also catches NaN
  }
  EXPECT_LE(max_diff, 1e-4f * (1.0f + max_ref))
      << "worst element " << worst << ": " << actual[worst] << " vs reference " << ref.data<float>()[worst];
}

Activation random_activation(std::mt19937& rng) {
  Activation act;
  act.kind = static_cast<ActivationKind>(uniform_int(rng, 0, static_cast<int64_t>(ActivationKind::kGelu)));
  switch (act.kind) {
    case ActivationKind::kLeakyRelu: act.alpha = uniform_float(rng, 0.01f, 0.3f); break;
    case ActivationKind::kClip:
      act.alpha = uniform_float(rng, -1.0f, 0.0f), act.beta = uniform_float(rng, 0.1f, 6.0f);
      break;
    case ActivationKind::kHardSigmoid:
      act.alpha = uniform_float(rng, 0.1f, 0.5f), act.beta = uniform_float(rng, 0.3f, 0.7f);
      break;
    default: break;
  }
  return act;
}

// ---- Conv ----

std::string conv_string(const ConvParams& p, bool bias) {
  return str_cat("conv N", p.batch, " C", p.in_channels, " ", p.in_h, "x", p.in_w, " -> M", p.out_channels, " ",
                 p.out_h, "x", p.out_w, " k", p.kernel_h, "x", p.kernel_w, " s", p.stride_h, "x", p.stride_w, " d",
                 p.dilation_h, "x", p.dilation_w, " pads ", p.pad_top, ",", p.pad_left, ",", p.pad_bottom, ",",
                 p.pad_right, " g", p.groups, " act ", activation_name(p.activation.kind), " sum ", p.sum, " bias ",
                 bias);
}

int64_t window_out(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin, int64_t pad_end) {
  return (in + pad_begin + pad_end - (kernel - 1) * dilation - 1) / stride + 1;
}

void finish_conv_params(ConvParams& p) {
  p.out_h = window_out(p.in_h, p.kernel_h, p.stride_h, p.dilation_h, p.pad_top, p.pad_bottom);
  p.out_w = window_out(p.in_w, p.kernel_w, p.stride_w, p.dilation_w, p.pad_left, p.pad_right);
}

// Runs ConvPrimitive and FusedConv on the same random data and compares.
void check_conv(const ConvParams& p, bool with_bias, std::mt19937& rng) {
  SCOPED_TRACE(conv_string(p, with_bias));
  const Tensor x = random_tensor(rng, {p.batch, p.in_channels, p.in_h, p.in_w});
  const Tensor w = random_tensor(rng, {p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w});
  const Tensor b = with_bias ? random_tensor(rng, {p.out_channels}) : Tensor();
  const Tensor sum = p.sum ? random_tensor(rng, {p.batch, p.out_channels, p.out_h, p.out_w}) : Tensor();
  Attributes attrs;
  attrs.set("kernel_shape", Ints{p.kernel_h, p.kernel_w});
  attrs.set("strides", Ints{p.stride_h, p.stride_w});
  attrs.set("dilations", Ints{p.dilation_h, p.dilation_w});
  attrs.set("pads", Ints{p.pad_top, p.pad_left, p.pad_bottom, p.pad_right});
  attrs.set("group", p.groups);
  set_activation_attributes(p.activation, attrs);
  std::vector<Tensor> inputs = {x, w, b};
  if (p.sum) inputs.push_back(sum);
  auto ref = run_op("FusedConv", inputs, attrs);
  ASSERT_TRUE(ref.ok()) << ref.status().message();

  auto conv = onednn::ConvPrimitive::create(p, w, with_bias ? &b : nullptr);
  ASSERT_TRUE(conv.ok()) << conv.status().message();
  const Tensor src = to_nhwc(x);
  Tensor dst = p.sum ? to_nhwc(sum) : Tensor(DType::kFloat32, {p.batch, p.out_h, p.out_w, p.out_channels});
  conv.value()->run(src.data<float>(), dst.data<float>());
  expect_close(to_nchw(dst).data<float>(), ref.value()[0]);
}

ConvParams random_conv(std::mt19937& rng) {
  ConvParams p;
  p.batch = uniform_int(rng, 1, 2);
  const int64_t group_kind = uniform_int(rng, 0, 9);  // 0-5 dense, 6-7 depthwise, 8-9 grouped
  if (group_kind <= 5) {
    p.in_channels = uniform_int(rng, 1, 64), p.out_channels = uniform_int(rng, 1, 64);
  } else if (group_kind <= 7) {
    p.groups = p.in_channels = uniform_int(rng, 1, 64);
    p.out_channels = p.groups * uniform_int(rng, 1, 2);  // depth multiplier
  } else {
    p.groups = 1 << uniform_int(rng, 1, 3);
    p.in_channels = p.groups * uniform_int(rng, 1, 8), p.out_channels = p.groups * uniform_int(rng, 1, 8);
  }
  const int64_t kernels[] = {1, 3, 5, 7};
  p.kernel_h = kernels[uniform_int(rng, 0, 3)];
  p.kernel_w = uniform_int(rng, 0, 4) == 0 ? kernels[uniform_int(rng, 0, 3)] : p.kernel_h;
  p.stride_h = uniform_int(rng, 1, 2), p.stride_w = uniform_int(rng, 1, 2);
  p.dilation_h = uniform_int(rng, 0, 3) == 0 ? 2 : 1, p.dilation_w = p.dilation_h;
  const int64_t extent_h = (p.kernel_h - 1) * p.dilation_h + 1, extent_w = (p.kernel_w - 1) * p.dilation_w + 1;
  p.pad_top = uniform_int(rng, 0, extent_h / 2), p.pad_bottom = uniform_int(rng, 0, extent_h / 2);
  p.pad_left = uniform_int(rng, 0, extent_w / 2), p.pad_right = uniform_int(rng, 0, extent_w / 2);
  p.in_h = std::max<int64_t>(1, extent_h - p.pad_top - p.pad_bottom) + uniform_int(rng, 0, 14);
  p.in_w = std::max<int64_t>(1, extent_w - p.pad_left - p.pad_right) + uniform_int(rng, 0, 14);
  p.activation = random_activation(rng);
  p.sum = uniform_int(rng, 0, 1) == 1;
  finish_conv_params(p);
  return p;
}

TEST(OneDnnConv, MatchesReferenceOnRandomShapes) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  constexpr int kCases = 40;
  for (int i = 0; i < kCases; ++i) {
    const ConvParams p = random_conv(rng);
    check_conv(p, uniform_int(rng, 0, 1) == 1, rng);
  }
}

// Square conv with symmetric pads on a square input.
ConvParams layer(int64_t in_channels, int64_t size, int64_t out_channels, int64_t kernel, int64_t stride,
                 int64_t groups, Activation activation, bool sum = false) {
  ConvParams p;
  p.in_channels = in_channels, p.in_h = p.in_w = size, p.out_channels = out_channels;
  p.kernel_h = p.kernel_w = kernel, p.stride_h = p.stride_w = stride, p.groups = groups;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = kernel / 2;
  p.activation = activation, p.sum = sum;
  finish_conv_params(p);
  return p;
}

const Activation kRelu{ActivationKind::kRelu};
const Activation kRelu6{ActivationKind::kClip, 0.0f, 6.0f};
const Activation kLinear{};

TEST(OneDnnConv, ResNet50Layers) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  for (const ConvParams& p : {
           layer(3, 224, 64, 7, 2, 1, kRelu),         // stem
           layer(64, 56, 64, 1, 1, 1, kRelu),         // bottleneck reduce
           layer(64, 56, 64, 3, 1, 1, kRelu),         // bottleneck 3x3
           layer(64, 56, 256, 1, 1, 1, kRelu, true),  // expand + residual add + ReLU
           layer(256, 56, 512, 1, 2, 1, kLinear),     // projection shortcut
           layer(128, 56, 128, 3, 2, 1, kRelu),       // strided 3x3 (v1.5)
           layer(512, 7, 512, 3, 1, 1, kRelu),        // last stage 3x3
       }) {
    check_conv(p, true, rng);
  }
}

TEST(OneDnnConv, MobileNetV2Layers) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  for (const ConvParams& p : {
           layer(3, 224, 32, 3, 2, 1, kRelu6),          // stem
           layer(32, 112, 32, 3, 1, 32, kRelu6),        // depthwise
           layer(32, 112, 16, 1, 1, 1, kLinear),        // linear bottleneck
           layer(24, 56, 144, 1, 1, 1, kRelu6),         // expand
           layer(144, 56, 144, 3, 2, 144, kRelu6),      // strided depthwise
           layer(144, 56, 24, 1, 1, 1, kLinear, true),  // project + residual
           layer(960, 7, 960, 3, 1, 960, kRelu6),       // last depthwise
           layer(320, 7, 1280, 1, 1, 1, kRelu6),        // head
       }) {
    check_conv(p, true, rng);
  }
}

TEST(OneDnnConv, PicksAFastImplementation) {
  const ConvParams p = layer(64, 56, 64, 3, 1, 1, kRelu);
  std::mt19937 rng(1);
  auto conv = onednn::ConvPrimitive::create(p, random_tensor(rng, {64, 64, 3, 3}), nullptr);
  ASSERT_TRUE(conv.ok()) << conv.status().message();
  const std::string impl = conv.value()->implementation();
  std::cout << "[ oneDNN   ] 3x3 64->64 56x56 conv runs on " << impl << "\n";
  RecordProperty("implementation", impl);
  EXPECT_EQ(impl.find("ref"), std::string::npos) << impl;
}

TEST(OneDnnConv, RejectsMismatchedShapes) {
  ConvParams p = layer(8, 10, 16, 3, 1, 1, kRelu);
  const Tensor bad_weight(DType::kFloat32, {16, 4, 3, 3});
  auto conv = onednn::ConvPrimitive::create(p, bad_weight, nullptr);
  ASSERT_FALSE(conv.ok());
  EXPECT_EQ(conv.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(conv.status().message().find("weight"), std::string::npos) << conv.status().message();
  p.out_h += 1;
  auto wrong_out = onednn::ConvPrimitive::create(p, Tensor(DType::kFloat32, {16, 8, 3, 3}), nullptr);
  EXPECT_EQ(wrong_out.status().code(), StatusCode::kInvalidArgument);
}

// ---- Gemm ----

std::string gemm_string(const InnerProductParams& p, const Shape& c_shape) {
  return str_cat("gemm N", p.batch, " K", p.in_features, " M", p.out_features, " src ", p.src_h, "x", p.src_w,
                 " transB ", p.trans_b, " alpha ", p.alpha, " beta ", p.beta, " C ", shape_string(c_shape), " act ",
                 activation_name(p.activation.kind), " sum ", p.sum);
}

// Runs InnerProductPrimitive and FusedGemm (with flatten_axis for a 4-D source).
void check_gemm(const InnerProductParams& p, const Tensor& c, std::mt19937& rng) {
  SCOPED_TRACE(gemm_string(p, c.empty() ? Shape{} : c.shape()));
  const bool spatial = p.src_h * p.src_w > 1;
  const int64_t channels = p.in_features / (p.src_h * p.src_w);
  const Tensor a =
      random_tensor(rng, spatial ? Shape{p.batch, channels, p.src_h, p.src_w} : Shape{p.batch, p.in_features});
  const Tensor b =
      random_tensor(rng, p.trans_b ? Shape{p.out_features, p.in_features} : Shape{p.in_features, p.out_features});
  const Tensor sum = p.sum ? random_tensor(rng, {p.batch, p.out_features}) : Tensor();
  Attributes attrs;
  attrs.set("transB", int64_t{p.trans_b});
  attrs.set("alpha", p.alpha);
  attrs.set("beta", p.beta);
  if (spatial) attrs.set("flatten_axis", int64_t{1});
  set_activation_attributes(p.activation, attrs);
  std::vector<Tensor> inputs = {a, b, c};
  if (p.sum) inputs.push_back(sum);
  auto ref = run_op("FusedGemm", inputs, attrs);
  ASSERT_TRUE(ref.ok()) << ref.status().message();

  auto gemm = onednn::InnerProductPrimitive::create(p, b, c.empty() ? nullptr : &c);
  ASSERT_TRUE(gemm.ok()) << gemm.status().message();
  const Tensor src = spatial ? to_nhwc(a) : a;
  Tensor dst = p.sum ? sum.clone() : Tensor(DType::kFloat32, {p.batch, p.out_features});
  gemm.value()->run(src.data<float>(), dst.data<float>());
  expect_close(dst.data<float>(), ref.value()[0]);
}

TEST(OneDnnGemm, MatchesReferenceOnRandomShapes) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  constexpr int kCases = 24;
  for (int i = 0; i < kCases; ++i) {
    InnerProductParams p;
    p.batch = uniform_int(rng, 1, 4);
    if (i % 2 == 1) p.src_h = uniform_int(rng, 1, 5), p.src_w = uniform_int(rng, 2, 5);
    p.in_features = uniform_int(rng, 1, 48) * p.src_h * p.src_w;
    p.out_features = uniform_int(rng, 1, 200);
    p.trans_b = uniform_int(rng, 0, 1) == 1;
    p.alpha = uniform_int(rng, 0, 1) == 0 ? 1.0f : uniform_float(rng, -2.0f, 2.0f);
    p.beta = uniform_int(rng, 0, 1) == 0 ? 1.0f : uniform_float(rng, -2.0f, 2.0f);
    p.activation = random_activation(rng);
    p.sum = uniform_int(rng, 0, 1) == 1;
    const Shape c_shapes[] = {{p.out_features}, {1, p.out_features}, {1}, {}};
    const int64_t c_kind = uniform_int(rng, 0, 4);  // 4: no C
    const Tensor c = c_kind < 4 ? random_tensor(rng, c_shapes[c_kind]) : Tensor();
    check_gemm(p, c, rng);
  }
}

TEST(OneDnnGemm, ResNet50Classifier) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  // The FC layer reading the unflattened [1, 2048, 1, 1] pool output, and a
  // VGG-style FC reading [2, 64, 7, 7] (flatten order matters there).
  InnerProductParams fc{.batch = 1, .in_features = 2048, .out_features = 1000, .trans_b = true};
  check_gemm(fc, random_tensor(rng, {1000}), rng);
  InnerProductParams vgg{.batch = 2,
                         .in_features = 64 * 7 * 7,
                         .out_features = 96,
                         .trans_b = true,
                         .activation = kRelu,
                         .src_h = 7,
                         .src_w = 7};
  check_gemm(vgg, random_tensor(rng, {96}), rng);
}

TEST(OneDnnGemm, RejectsPerRowC) {
  const InnerProductParams p{.batch = 2, .in_features = 3, .out_features = 4, .trans_b = true};
  const Tensor b(DType::kFloat32, {4, 3});
  const Tensor c(DType::kFloat32, {2, 4});
  auto gemm = onednn::InnerProductPrimitive::create(p, b, &c);
  ASSERT_FALSE(gemm.ok());
  EXPECT_EQ(gemm.status().code(), StatusCode::kUnimplemented) << gemm.status().message();
  EXPECT_NE(gemm.status().message().find("[2,4]"), std::string::npos) << gemm.status().message();
}

// ---- Pooling ----

std::string pool_string(const PoolParams& p, bool ceil_mode) {
  return str_cat("pool kind ", static_cast<int>(p.kind), " N", p.batch, " C", p.channels, " ", p.in_h, "x", p.in_w,
                 " -> ", p.out_h, "x", p.out_w, " k", p.kernel_h, "x", p.kernel_w, " s", p.stride_h, "x", p.stride_w,
                 " d", p.dilation_h, "x", p.dilation_w, " pads ", p.pad_top, ",", p.pad_left, ",", p.pad_bottom, ",",
                 p.pad_right, " ceil ", ceil_mode);
}

const char* pool_op(PoolKind kind) { return kind == PoolKind::kMax ? "MaxPool" : "AveragePool"; }

// Runs PoolPrimitive against MaxPool / AveragePool (out dims from the reference).
void check_pool(PoolParams p, bool ceil_mode, std::mt19937& rng) {
  const Tensor x = random_tensor(rng, {p.batch, p.channels, p.in_h, p.in_w});
  Attributes attrs;
  attrs.set("kernel_shape", Ints{p.kernel_h, p.kernel_w});
  attrs.set("strides", Ints{p.stride_h, p.stride_w});
  attrs.set("pads", Ints{p.pad_top, p.pad_left, p.pad_bottom, p.pad_right});
  attrs.set("ceil_mode", int64_t{ceil_mode});
  if (p.kind == PoolKind::kMax) attrs.set("dilations", Ints{p.dilation_h, p.dilation_w});
  if (p.kind == PoolKind::kAvgIncludePad) attrs.set("count_include_pad", int64_t{1});
  auto ref = run_op(pool_op(p.kind), {x}, attrs);
  ASSERT_TRUE(ref.ok()) << ref.status().message();
  const Tensor& y = ref.value()[0];
  p.out_h = y.dim(2), p.out_w = y.dim(3);
  SCOPED_TRACE(pool_string(p, ceil_mode));

  auto pool = onednn::PoolPrimitive::create(p);
  if (!pool.ok() && ceil_mode && p.kind == PoolKind::kAvgIncludePad) {
    EXPECT_EQ(pool.status().code(), StatusCode::kUnimplemented) << pool.status().message();
    return;
  }
  ASSERT_TRUE(pool.ok()) << pool.status().message();
  const Tensor src = to_nhwc(x);
  Tensor dst(DType::kFloat32, {p.batch, p.out_h, p.out_w, p.channels});
  pool.value()->run(src.data<float>(), dst.data<float>());
  expect_close(to_nchw(dst).data<float>(), y);
}

TEST(OneDnnPool, MatchesReferenceOnRandomShapes) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  constexpr int kCases = 30;
  for (int i = 0; i < kCases; ++i) {
    PoolParams p;
    p.kind = static_cast<PoolKind>(i % 3);
    p.batch = uniform_int(rng, 1, 2), p.channels = uniform_int(rng, 1, 40);
    p.kernel_h = uniform_int(rng, 1, 4), p.kernel_w = uniform_int(rng, 1, 4);
    p.stride_h = uniform_int(rng, 1, 3), p.stride_w = uniform_int(rng, 1, 3);
    if (p.kind == PoolKind::kMax) p.dilation_h = uniform_int(rng, 1, 2), p.dilation_w = uniform_int(rng, 1, 2);
    const int64_t extent_h = (p.kernel_h - 1) * p.dilation_h + 1, extent_w = (p.kernel_w - 1) * p.dilation_w + 1;
    p.pad_top = uniform_int(rng, 0, extent_h - 1), p.pad_bottom = uniform_int(rng, 0, extent_h - 1);
    p.pad_left = uniform_int(rng, 0, extent_w - 1), p.pad_right = uniform_int(rng, 0, extent_w - 1);
    p.in_h = extent_h + uniform_int(rng, 0, 12), p.in_w = extent_w + uniform_int(rng, 0, 12);
    check_pool(p, uniform_int(rng, 0, 2) == 0, rng);
  }
}

TEST(OneDnnPool, ResNetStemMaxPoolAndGlobalAverage) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  check_pool({.kind = PoolKind::kMax,
              .channels = 64,
              .in_h = 112,
              .in_w = 112,
              .kernel_h = 3,
              .kernel_w = 3,
              .stride_h = 2,
              .stride_w = 2,
              .pad_top = 1,
              .pad_left = 1,
              .pad_bottom = 1,
              .pad_right = 1},
             false, rng);

  for (const Shape& shape : {Shape{1, 2048, 7, 7}, Shape{2, 37, 5, 3}}) {
    SCOPED_TRACE(shape_string(shape));
    const Tensor x = random_tensor(rng, shape);
    auto ref = run_op("GlobalAveragePool", {x});
    ASSERT_TRUE(ref.ok()) << ref.status().message();
    const PoolParams p{.kind = PoolKind::kAvgExcludePad,
                       .batch = shape[0],
                       .channels = shape[1],
                       .in_h = shape[2],
                       .in_w = shape[3],
                       .out_h = 1,
                       .out_w = 1,
                       .kernel_h = shape[2],
                       .kernel_w = shape[3]};
    auto pool = onednn::PoolPrimitive::create(p);
    ASSERT_TRUE(pool.ok()) << pool.status().message();
    const Tensor src = to_nhwc(x);
    Tensor dst(DType::kFloat32, {shape[0], 1, 1, shape[1]});
    pool.value()->run(src.data<float>(), dst.data<float>());
    expect_close(dst.data<float>(), ref.value()[0]);  // [N,1,1,C] and [N,C,1,1] share a layout
  }
}

TEST(OneDnnPool, RejectsUnsupportedCases) {
  PoolParams dilated_avg{.kind = PoolKind::kAvgExcludePad,
                         .channels = 4,
                         .in_h = 8,
                         .in_w = 8,
                         .out_h = 4,
                         .out_w = 4,
                         .kernel_h = 2,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 2,
                         .dilation_h = 2};
  EXPECT_EQ(onednn::PoolPrimitive::create(dilated_avg).status().code(), StatusCode::kUnimplemented);
  // 3x3 stride 2 on 8x8 in ceil mode: 4 windows, the last overhangs by one.
  PoolParams ceil_include{.kind = PoolKind::kAvgIncludePad,
                          .channels = 4,
                          .in_h = 8,
                          .in_w = 8,
                          .out_h = 4,
                          .out_w = 4,
                          .kernel_h = 3,
                          .kernel_w = 3,
                          .stride_h = 2,
                          .stride_w = 2};
  EXPECT_EQ(onednn::PoolPrimitive::create(ceil_include).status().code(), StatusCode::kUnimplemented);
  ceil_include.kind = PoolKind::kAvgExcludePad;
  EXPECT_TRUE(onednn::PoolPrimitive::create(ceil_include).ok());
}

TEST(OneDnnThreads, SetNumThreads) {
  const int before = onednn::num_threads();
  onednn::set_num_threads(1);
  EXPECT_EQ(onednn::num_threads(), 1);
  onednn::set_num_threads(before);
  EXPECT_EQ(onednn::num_threads(), before);
}

}  // namespace
}  // namespace kestrel::testing

// create_cached (a matching cache used in place; foreign, truncated or
// binary keys packed again, same results) is tested in
// model_file_hardening_test.cc, PackedWeightsCache.

namespace kestrel::onednn {
namespace {

// pin_threads pins the calling thread too (it is OpenMP's master): later
// tests in this process must not inherit that, so the affinity is restored.
class RestoreAffinity {
 public:
  RestoreAffinity() { sched_getaffinity(0, sizeof(saved_), &saved_); }
  ~RestoreAffinity() { sched_setaffinity(0, sizeof(saved_), &saved_); }
  RestoreAffinity(const RestoreAffinity&) = delete;
  RestoreAffinity& operator=(const RestoreAffinity&) = delete;

 private:
  cpu_set_t saved_{};
};

TEST(OneDnnThreads, PinThreadsPinsEveryWorker) {
  const RestoreAffinity restore;
  EXPECT_EQ(pin_threads(1), 1);
  EXPECT_EQ(pin_threads(2), 2);  // more threads than cores wrap around the allowed CPUs
  EXPECT_EQ(pin_threads(0), 0);
}

}  // namespace
}  // namespace kestrel::onednn
