// Golden tests for Conv, MaxPool, AveragePool and the global pools.
#include <cmath>

#include "unit/nn_test_util.h"

namespace kestrel::testing {
namespace {

using namespace nn_test;

// ---- Conv ----

TEST(NnConv, Valid2x2KernelInferredFromWeights) {
  const Tensor y = run_ok("Conv", {iota({1, 1, 3, 3}), floats({1, 1, 2, 2}, {1, 1, 1, 1})});
  expect_near(y, {1, 1, 2, 2}, {8, 12, 20, 24});
}

TEST(NnConv, PadsAndBias) {
  const Tensor w = floats({1, 1, 3, 3}, {1, 1, 1, 1, 1, 1, 1, 1, 1});
  const Tensor y = run_ok("Conv", {iota({1, 1, 3, 3}), w, floats({1}, {1})},
                          make_attrs({{"pads", Ints{1, 1, 1, 1}}, {"kernel_shape", Ints{3, 3}}}));
  expect_near(y, {1, 1, 3, 3}, {9, 16, 13, 22, 37, 28, 21, 34, 25});
}

TEST(NnConv, Strides) {
  const Tensor y =
      run_ok("Conv", {iota({1, 1, 4, 4}), floats({1, 1, 2, 2}, {1, 1, 1, 1})}, make_attrs({{"strides", Ints{2, 2}}}));
  expect_near(y, {1, 1, 2, 2}, {10, 18, 42, 50});
}

TEST(NnConv, AsymmetricPadsWithStride) {
  // Only the bottom is padded: rows {0,1}, {2,3(pad)}.
  const Tensor y = run_ok("Conv", {iota({1, 1, 3, 2}), floats({1, 1, 2, 2}, {1, 1, 1, 1})},
                          make_attrs({{"strides", Ints{2, 1}}, {"pads", Ints{0, 0, 1, 0}}}));
  expect_near(y, {1, 1, 2, 1}, {6, 9});
}

TEST(NnConv, Dilations1D) {
  const Tensor y = run_ok("Conv", {floats({1, 1, 5}, {1, 2, 3, 4, 5}), floats({1, 1, 2}, {1, 10})},
                          make_attrs({{"dilations", Ints{2}}}));
  expect_near(y, {1, 1, 3}, {31, 42, 53});
}

TEST(NnConv, DepthwiseGroups) {
  const Tensor x = floats({1, 2, 2, 2}, {1, 2, 3, 4, 10, 20, 30, 40});
  const Tensor y = run_ok("Conv", {x, floats({2, 1, 1, 1}, {2, 3})}, make_attrs({{"group", int64_t{2}}}));
  expect_near(y, {1, 2, 2, 2}, {2, 4, 6, 8, 30, 60, 90, 120});
}

TEST(NnConv, GroupsWithSeveralChannelsEach) {
  const Tensor x = floats({1, 4, 1, 1}, {1, 2, 3, 4});
  const Tensor y = run_ok("Conv", {x, floats({2, 2, 1, 1}, {1, 1, 1, -1})}, make_attrs({{"group", int64_t{2}}}));
  expect_near(y, {1, 2, 1, 1}, {3, -1});
}

TEST(NnConv, PointwiseBatchAndBias) {
  const Tensor x = floats({2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor y = run_ok("Conv", {x, floats({2, 2, 1, 1}, {1, 0, 1, 1}), floats({2}, {0, 100})});
  expect_near(y, {2, 2, 1, 2}, {1, 2, 104, 106, 5, 6, 112, 114});
}

TEST(NnConv, AutoPadSameUpperAndLower) {
  const Tensor x = floats({1, 1, 4}, {1, 2, 3, 4});
  const Tensor w = floats({1, 1, 2}, {1, 1});
  expect_near(run_ok("Conv", {x, w}, make_attrs({{"auto_pad", std::string("SAME_UPPER")}})), {1, 1, 4}, {3, 5, 7, 4});
  expect_near(run_ok("Conv", {x, w}, make_attrs({{"auto_pad", std::string("SAME_LOWER")}})), {1, 1, 4}, {1, 3, 5, 7});
}

TEST(NnConv, AutoPadValidWithStride) {
  const Tensor y = run_ok("Conv", {floats({1, 1, 5}, {1, 2, 3, 4, 5}), floats({1, 1, 3}, {1, 1, 1})},
                          make_attrs({{"auto_pad", std::string("VALID")}, {"strides", Ints{2}}}));
  expect_near(y, {1, 1, 2}, {6, 12});
}

TEST(NnConv, ThreeDimensional) {
  const Tensor w = floats({1, 1, 2, 2, 2}, std::vector<float>(8, 1.0f));
  expect_near(run_ok("Conv", {iota({1, 1, 2, 2, 2}, 1), w}), {1, 1, 1, 1, 1}, {36});
}

TEST(NnConv, Float64) {
  const Tensor x = Tensor::from_vector<double>({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor w = Tensor::from_vector<double>({1, 1, 2, 2}, {0.5, 0.25, 2, 1});
  const Tensor y = run_ok("Conv", {x, w});
  ASSERT_EQ(y.dtype(), DType::kFloat64);
  EXPECT_DOUBLE_EQ(y.data<double>()[0], 0.5 + 0.5 + 6 + 4);
}

// Direct 7-loop convolution, the obvious definition, to check im2col + GEMM
// on sizes that cross the GEMM block boundaries.
std::vector<float> direct_conv(const Tensor& x, const Tensor& w, int64_t group, int64_t stride, int64_t pad,
                               int64_t dilation, const Shape& y_shape) {
  const int64_t n_count = x.dim(0), c_in = x.dim(1), h_in = x.dim(2), w_in = x.dim(3);
  const int64_t m_count = w.dim(0), c_group = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t h_out = y_shape[2], w_out = y_shape[3], m_group = m_count / group;
  std::vector<float> y(static_cast<size_t>(shape_size(y_shape)), 0.0f);
  for (int64_t n = 0; n < n_count; ++n)
    for (int64_t m = 0; m < m_count; ++m)
      for (int64_t oh = 0; oh < h_out; ++oh)
        for (int64_t ow = 0; ow < w_out; ++ow) {
          double sum = 0;
          for (int64_t c = 0; c < c_group; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * stride - pad + i * dilation, iw = ow * stride - pad + j * dilation;
                if (ih < 0 || ih >= h_in || iw < 0 || iw >= w_in) continue;
                const int64_t ci = (m / m_group) * c_group + c;
                sum += x.data<float>()[((n * c_in + ci) * h_in + ih) * w_in + iw] *
                       w.data<float>()[((m * c_group + c) * kh + i) * kw + j];
              }
          y[static_cast<size_t>(((n * m_count + m) * h_out + oh) * w_out + ow)] = static_cast<float>(sum);
        }
  return y;
}

TEST(NnConv, MatchesDirectConvolutionOnLargerShapes) {
  struct Case {
    Shape x, w;
    int64_t group, stride, pad, dilation;
  };
  for (const Case& c :
       {Case{{1, 16, 24, 24}, {5, 16, 3, 3}, 1, 1, 1, 1}, Case{{2, 8, 13, 11}, {6, 4, 3, 2}, 2, 2, 1, 2},
        Case{{1, 200, 5, 5}, {3, 200, 1, 1}, 1, 1, 0, 1}}) {
    const Tensor x = floats(c.x, pseudo_random(static_cast<size_t>(shape_size(c.x)), 1));
    const Tensor w = floats(c.w, pseudo_random(static_cast<size_t>(shape_size(c.w)), 2));
    const Ints pads(4, c.pad);
    const Tensor y = run_ok("Conv", {x, w},
                            make_attrs({{"group", c.group},
                                        {"strides", Ints{c.stride, c.stride}},
                                        {"pads", pads},
                                        {"dilations", Ints{c.dilation, c.dilation}}}));
    expect_near(y, y.shape(), direct_conv(x, w, c.group, c.stride, c.pad, c.dilation, y.shape()), 1e-4f);
  }
}

TEST(NnConv, UnknownBatchStaysUnknownAtCompileTime) {
  auto out = infer_only("Conv", {{DType::kFloat32, {-1, 3, 8, 8}}, {DType::kFloat32, {4, 3, 3, 3}}},
                        make_attrs({{"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->shape, (Shape{-1, 4, 4, 4}));
}

TEST(NnConv, RejectsBadInputs) {
  const Tensor x = iota({1, 2, 4, 4});
  const Tensor w = floats({2, 2, 3, 3}, std::vector<float>(36, 1.0f));
  const auto kInvalid = StatusCode::kInvalidArgument;
  expect_failure("Conv", {iota({2, 4}), w}, {}, kInvalid, "rank >= 3");
  expect_failure("Conv", {x, floats({2, 3, 3, 3}, {})}, {}, kInvalid, "channels");
  expect_failure("Conv", {x, w}, make_attrs({{"group", int64_t{2}}}), kInvalid, "channels");
  expect_failure("Conv", {x, floats({3, 1, 3, 3}, {})}, make_attrs({{"group", int64_t{2}}}), kInvalid,
                 "not divisible by group");
  expect_failure("Conv", {x, w}, make_attrs({{"kernel_shape", Ints{2, 2}}}), kInvalid, "kernel_shape");
  expect_failure("Conv", {x, w}, make_attrs({{"strides", Ints{1}}}), kInvalid, "strides");
  expect_failure("Conv", {x, w}, make_attrs({{"strides", Ints{0, 1}}}), kInvalid, "strides");
  expect_failure("Conv", {x, w}, make_attrs({{"auto_pad", std::string("SAME")}}), kInvalid, "auto_pad");
  expect_failure("Conv", {x, floats({2, 2, 5, 5}, {})}, {}, kInvalid, "does not fit");
  expect_failure("Conv", {x, w, floats({3}, {})}, {}, kInvalid, "bias");
  expect_failure("Conv", {x, Tensor::from_vector<double>({2, 2, 3, 3}, {})}, {}, kInvalid, "element type");
  expect_failure("Conv", {x}, {}, kInvalid, "inputs");
}

// ---- MaxPool ----

TEST(NnMaxPool, Default2x2) {
  const Tensor y = run_ok("MaxPool", {iota({1, 1, 3, 3})}, make_attrs({{"kernel_shape", Ints{2, 2}}}));
  expect_near(y, {1, 1, 2, 2}, {4, 5, 7, 8});
}

TEST(NnMaxPool, PadsStridesAndIndices) {
  auto result =
      run_op("MaxPool", {iota({1, 2, 3, 3})},
             make_attrs({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}), 2);
  ASSERT_TRUE(result.ok()) << result.status().message();
  expect_near(result.value()[0], {1, 2, 2, 2}, {0, 2, 6, 8, 9, 11, 15, 17});
  // Indices are flat positions in the whole input, batch and channel included.
  EXPECT_EQ(values_of<int64_t>(result.value()[1]), (std::vector<int64_t>{0, 2, 6, 8, 9, 11, 15, 17}));
}

TEST(NnMaxPool, ColumnMajorIndices) {
  const Tensor x = floats({1, 1, 2, 3}, {1, 5, 2, 3, 4, 6});
  const Attributes attrs = make_attrs({{"kernel_shape", Ints{2, 2}}, {"storage_order", int64_t{1}}});
  auto result = run_op("MaxPool", {x}, attrs, 2);
  ASSERT_TRUE(result.ok()) << result.status().message();
  expect_near(result.value()[0], {1, 1, 1, 2}, {5, 6});
  // 5 is at (row 0, col 1) -> 0 + 1 * 2; 6 at (1, 2) -> 1 + 2 * 2.
  EXPECT_EQ(values_of<int64_t>(result.value()[1]), (std::vector<int64_t>{2, 5}));
}

TEST(NnMaxPool, CeilMode) {
  const Attributes floor_attrs = make_attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}});
  expect_near(run_ok("MaxPool", {iota({1, 1, 4, 4})}, floor_attrs), {1, 1, 1, 1}, {10});
  Attributes ceil_attrs = floor_attrs;
  ceil_attrs.set("ceil_mode", int64_t{1});
  expect_near(run_ok("MaxPool", {iota({1, 1, 4, 4})}, ceil_attrs), {1, 1, 2, 2}, {10, 11, 14, 15});
}

TEST(NnMaxPool, CeilModeDropsWindowStartingInPadding) {
  // 5 + 1 pad, kernel 2, stride 3: ceil((6 - 2) / 3) + 1 = 3 windows, but the
  // 3rd would start at 6, past the input and its padding, so 2 remain.
  const Tensor y = run_ok(
      "MaxPool", {floats({1, 1, 5}, {1, 2, 3, 4, 5})},
      make_attrs({{"kernel_shape", Ints{2}}, {"strides", Ints{3}}, {"pads", Ints{0, 1}}, {"ceil_mode", int64_t{1}}}));
  expect_near(y, {1, 1, 2}, {2, 5});
}

TEST(NnMaxPool, Dilations) {
  const Tensor y =
      run_ok("MaxPool", {iota({1, 1, 4, 4})}, make_attrs({{"kernel_shape", Ints{2, 2}}, {"dilations", Ints{2, 2}}}));
  expect_near(y, {1, 1, 2, 2}, {10, 11, 14, 15});
}

TEST(NnMaxPool, SameUpper3D) {
  const Tensor y = run_ok("MaxPool", {iota({1, 1, 2, 2, 2})},
                          make_attrs({{"kernel_shape", Ints{2, 2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}));
  expect_near(y, {1, 1, 2, 2, 2}, {7, 7, 7, 7, 7, 7, 7, 7});
}

TEST(NnMaxPool, ByteTypes) {
  const Tensor u = Tensor::from_vector<uint8_t>({1, 1, 4}, {3, 200, 7, 9});
  const Tensor yu = run_ok("MaxPool", {u}, make_attrs({{"kernel_shape", Ints{2}}}));
  EXPECT_EQ(values_of<uint8_t>(yu), (std::vector<uint8_t>{200, 200, 9}));
  const Tensor s = Tensor::from_vector<int8_t>({1, 1, 3}, {-5, -7, -1});
  const Tensor ys = run_ok("MaxPool", {s}, make_attrs({{"kernel_shape", Ints{2}}, {"pads", Ints{1, 0}}}));
  EXPECT_EQ(values_of<int8_t>(ys), (std::vector<int8_t>{-5, -5, -1}));
}

TEST(NnMaxPool, UnknownDimsStayUnknownAtCompileTime) {
  auto out =
      infer_only("MaxPool", {{DType::kFloat32, {-1, 8, -1, 10}}},
                 make_attrs({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->shape, (Shape{-1, 8, -1, 5}));
}

TEST(NnMaxPool, RejectsBadAttributes) {
  const Tensor x = iota({1, 1, 4, 4});
  const auto kInvalid = StatusCode::kInvalidArgument;
  expect_failure("MaxPool", {x}, {}, kInvalid, "kernel_shape is required");
  expect_failure("MaxPool", {x}, make_attrs({{"kernel_shape", Ints{2}}}), kInvalid, "kernel_shape");
  expect_failure("MaxPool", {x}, make_attrs({{"kernel_shape", Ints{2, 2}}, {"pads", Ints{2, 2, 2, 2}}}), kInvalid,
                 "smaller than the kernel");
  expect_failure("MaxPool", {x}, make_attrs({{"kernel_shape", Ints{2, 2}}, {"storage_order", int64_t{2}}}), kInvalid,
                 "storage_order");
  expect_failure("MaxPool", {iota({4, 4})}, make_attrs({{"kernel_shape", Ints{2}}}), kInvalid, "rank >= 3");
  expect_failure("MaxPool", {Tensor::from_vector<int32_t>({1, 1, 2}, {1, 2})}, make_attrs({{"kernel_shape", Ints{2}}}),
                 StatusCode::kUnimplemented, "int32");
}

// ---- AveragePool ----

TEST(NnAveragePool, Default2x2) {
  expect_near(run_ok("AveragePool", {iota({1, 1, 3, 3})}, make_attrs({{"kernel_shape", Ints{2, 2}}})), {1, 1, 2, 2},
              {2, 3, 5, 6});
}

TEST(NnAveragePool, PadsWithAndWithoutCountIncludePad) {
  const Attributes attrs = make_attrs({{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}}});
  expect_near(run_ok("AveragePool", {iota({1, 1, 3, 3})}, attrs), {1, 1, 3, 3},
              {2, 2.5f, 3, 3.5f, 4, 4.5f, 5, 5.5f, 6});
  Attributes include = attrs;
  include.set("count_include_pad", int64_t{1});
  expect_near(run_ok("AveragePool", {iota({1, 1, 3, 3})}, include), {1, 1, 3, 3},
              {8 / 9.f, 15 / 9.f, 12 / 9.f, 21 / 9.f, 4, 27 / 9.f, 20 / 9.f, 33 / 9.f, 24 / 9.f});
}

TEST(NnAveragePool, CeilModeCountsOnlyCoveredElements) {
  const Tensor y = run_ok("AveragePool", {floats({1, 1, 5}, {1, 2, 3, 4, 5})},
                          make_attrs({{"kernel_shape", Ints{2}},
                                      {"strides", Ints{2}},
                                      {"ceil_mode", int64_t{1}},
                                      {"count_include_pad", int64_t{1}}}));
  expect_near(y, {1, 1, 3}, {1.5f, 3.5f, 5});
}

TEST(NnAveragePool, SameUpperAndLower) {
  const Tensor x = floats({1, 1, 4}, {1, 2, 3, 4});
  expect_near(
      run_ok("AveragePool", {x}, make_attrs({{"kernel_shape", Ints{2}}, {"auto_pad", std::string("SAME_UPPER")}})),
      {1, 1, 4}, {1.5f, 2.5f, 3.5f, 4});
  expect_near(run_ok("AveragePool", {x},
                     make_attrs({{"kernel_shape", Ints{2}},
                                 {"auto_pad", std::string("SAME_LOWER")},
                                 {"count_include_pad", int64_t{1}}})),
              {1, 1, 4}, {0.5f, 1.5f, 2.5f, 3.5f});
}

TEST(NnAveragePool, ThreeDimensionalWithStrides) {
  const Tensor y = run_ok("AveragePool", {iota({1, 1, 2, 4, 4})},
                          make_attrs({{"kernel_shape", Ints{2, 2, 2}}, {"strides", Ints{1, 2, 2}}}));
  // Window (z 0-1, y 0-1, x 0-1): mean of {0,1,4,5,16,17,20,21} = 10.5.
  expect_near(y, {1, 1, 1, 2, 2}, {10.5f, 12.5f, 18.5f, 20.5f});
}

TEST(NnAveragePool, RejectsDilationsAndBadFlags) {
  const Tensor x = iota({1, 1, 4, 4});
  expect_failure("AveragePool", {x}, make_attrs({{"kernel_shape", Ints{2, 2}}, {"dilations", Ints{2, 2}}}),
                 StatusCode::kInvalidArgument, "dilations");
  expect_failure("AveragePool", {x}, make_attrs({{"kernel_shape", Ints{2, 2}}, {"count_include_pad", int64_t{3}}}),
                 StatusCode::kInvalidArgument, "count_include_pad");
  expect_failure("AveragePool", {x}, make_attrs({{"kernel_shape", Ints{2, 2}}, {"ceil_mode", int64_t{2}}}),
                 StatusCode::kInvalidArgument, "ceil_mode");
}

// ---- Global pools ----

TEST(NnGlobalPool, AverageAndMax) {
  const Tensor x = floats({1, 2, 2, 2}, {1, 2, 3, 4, -1, -8, -3, -2});
  expect_near(run_ok("GlobalAveragePool", {x}), {1, 2, 1, 1}, {2.5f, -3.5f});
  expect_near(run_ok("GlobalMaxPool", {x}), {1, 2, 1, 1}, {4, -1});
  expect_near(run_ok("GlobalAveragePool", {iota({2, 1, 3})}), {2, 1, 1}, {1, 4});
}

TEST(NnGlobalPool, RejectsLowRank) {
  expect_failure("GlobalAveragePool", {iota({2, 3})}, {}, StatusCode::kInvalidArgument, "rank >= 3");
  expect_failure("GlobalMaxPool", {iota({2, 3})}, {}, StatusCode::kInvalidArgument, "rank >= 3");
}

}  // namespace
}  // namespace kestrel::testing
