// Golden tests for Resize and for the value-producing ops Constant, Shape,
// ConstantOfShape and Range.
#include <gtest/gtest.h>

#include "unit/op_test_util.h"

namespace kestrel {
namespace {

using testing::expect_error;
using testing::expect_near;
using testing::ints;
using testing::run_op;
using testing::values_of;

Tensor f32(Shape shape, const std::vector<float>& values) {
  return Tensor::from_vector<float>(std::move(shape), values);
}
Tensor floats(const std::vector<float>& values) { return f32({static_cast<int64_t>(values.size())}, values); }

Attributes resize_attrs(const std::string& mode, const std::string& coord = "half_pixel") {
  Attributes attrs;
  attrs.set("mode", mode);
  attrs.set("coordinate_transformation_mode", coord);
  return attrs;
}

const Tensor kRow = f32({1, 4}, {0, 10, 20, 30});

TEST(Resize, NearestUpsampleHalfPixel) {
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  auto out = run_op("Resize", {x, Tensor(), floats({1, 1, 2, 2})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  expect_near((*out)[0], {1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

TEST(Resize, NearestModesAndIntegerData) {
  const Tensor x = Tensor::from_vector<uint8_t>({1, 4}, {0, 10, 20, 30});
  Attributes attrs = resize_attrs("nearest", "asymmetric");
  // Asymmetric with scale 3/4: source positions 0, 1.33, 2.67.
  attrs.set("nearest_mode", std::string("round_prefer_ceil"));
  auto out = run_op("Resize", {x, Tensor(), Tensor(), ints({1, 3})}, attrs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(values_of<uint8_t>((*out)[0]), (std::vector<uint8_t>{0, 10, 30}));
  attrs.set("nearest_mode", std::string("floor"));
  out = run_op("Resize", {x, Tensor(), Tensor(), ints({1, 3})}, attrs);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<uint8_t>((*out)[0]), (std::vector<uint8_t>{0, 10, 20}));
  attrs.set("nearest_mode", std::string("ceil"));
  out = run_op("Resize", {x, Tensor(), Tensor(), ints({1, 3})}, attrs);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<uint8_t>((*out)[0]), (std::vector<uint8_t>{0, 20, 30}));
}

TEST(Resize, LinearHalfPixelAndAlignCorners) {
  auto out = run_op("Resize", {kRow, Tensor(), floats({1, 2})}, resize_attrs("linear"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  expect_near((*out)[0], {1, 8}, {0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30});
  out = run_op("Resize", {kRow, Tensor(), Tensor(), ints({1, 7})}, resize_attrs("linear", "align_corners"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  expect_near((*out)[0], {1, 7}, {0, 5, 10, 15, 20, 25, 30});
}

TEST(Resize, LinearTwoAxes) {
  const Tensor x = f32({2, 2}, {0, 10, 20, 30});
  auto out = run_op("Resize", {x, Tensor(), Tensor(), ints({3, 3})}, resize_attrs("linear", "align_corners"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  expect_near((*out)[0], {3, 3}, {0, 5, 10, 10, 15, 20, 20, 25, 30});
}

TEST(Resize, CubicAsymmetricAndExcludeOutside) {
  // At ratio 0.5 the A=-0.75 weights are -0.09375, 0.59375, 0.59375, -0.09375.
  Attributes attrs = resize_attrs("cubic", "asymmetric");
  auto out = run_op("Resize", {kRow, Tensor(), floats({1, 2})}, attrs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  const std::vector<float> got = values_of<float>((*out)[0]);
  ASSERT_EQ(got.size(), 8u);
  EXPECT_NEAR(got[0], 0, 1e-5);
  EXPECT_NEAR(got[1], 4.0625, 1e-5);  // taps clamp -1 to 0
  EXPECT_NEAR(got[3], 15, 1e-5);
  attrs.set("exclude_outside", int64_t{1});
  out = run_op("Resize", {kRow, Tensor(), floats({1, 2})}, attrs);
  ASSERT_TRUE(out.ok());
  EXPECT_NEAR((*out)[0].data<float>()[1], 4.0625 / 1.09375, 1e-5);  // tap -1 dropped, weights renormalized
}

TEST(Resize, TfCropAndResizeExtrapolates) {
  Attributes attrs = resize_attrs("linear", "tf_crop_and_resize");
  attrs.set("extrapolation_value", 7.0f);
  const Tensor roi = floats({0, 0.5f, 1, 1.5f});
  auto out = run_op("Resize", {kRow, roi, Tensor(), ints({1, 3})}, attrs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  expect_near((*out)[0], {1, 3}, {15, 30, 7});  // source positions 1.5, 3, 4.5
}

TEST(Resize, TfCropAndResizeScalesApplyToRoiExtent) {
  const Tensor roi = floats({0, 0.25f, 1, 0.75f});
  auto out = run_op("Resize", {kRow, roi, floats({1, 2})}, resize_attrs("linear", "tf_crop_and_resize"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  expect_near((*out)[0], {1, 4}, {7.5, 12.5, 17.5, 22.5});  // source positions 0.75 + 0.5 x
}

TEST(Resize, Opset11EmptyScalesWithSizes) {
  auto out =
      run_op("Resize", {kRow, floats({}), floats({}), ints({1, 2})}, resize_attrs("nearest", "asymmetric"), 1, 11);
  ASSERT_TRUE(out.ok()) << out.status().message();
  expect_near((*out)[0], {1, 2}, {0, 20});
}

TEST(Resize, RejectsBadArguments) {
  expect_error(run_op("Resize", {kRow, Tensor(), floats({1, 2}), ints({1, 8})}), "Resize");
  expect_error(run_op("Resize", {kRow}), "Resize");
  expect_error(run_op("Resize", {kRow, Tensor(), floats({2})}), "Resize");
  expect_error(run_op("Resize", {kRow, Tensor(), floats({1, -2})}), "Resize");
  expect_error(run_op("Resize", {kRow, Tensor(), floats({1, 2})}, resize_attrs("bilinear")), "Resize");
  expect_error(run_op("Resize", {kRow, Tensor(), floats({1, 2})}, resize_attrs("linear", "tf_crop_and_resize")),
               "Resize");
  expect_error(run_op("Resize", {Tensor::from_vector<int32_t>({1, 2}, {1, 2}), Tensor(), floats({1, 2})},
                      resize_attrs("linear")),
               "Resize", StatusCode::kUnimplemented);
}

TEST(Constant, EveryValueAttribute) {
  Attributes attrs;
  attrs.set("value", Tensor::from_vector<int32_t>({2}, {3, 4}));
  auto out = run_op("Constant", {}, attrs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(values_of<int32_t>((*out)[0]), (std::vector<int32_t>{3, 4}));
  Attributes f;
  f.set("value_float", 2.5f);
  out = run_op("Constant", {}, f);
  ASSERT_TRUE(out.ok());
  expect_near((*out)[0], {}, {2.5f});
  Attributes fs;
  fs.set("value_floats", std::vector<float>{1, 2});
  out = run_op("Constant", {}, fs);
  ASSERT_TRUE(out.ok());
  expect_near((*out)[0], {2}, {1, 2});
  Attributes i;
  i.set("value_int", int64_t{-3});
  out = run_op("Constant", {}, i);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].rank(), 0);
  EXPECT_EQ((*out)[0].int_at(0), -3);
  Attributes is;
  is.set("value_ints", std::vector<int64_t>{5, 6, 7});
  out = run_op("Constant", {}, is);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<int64_t>((*out)[0]), (std::vector<int64_t>{5, 6, 7}));
}

TEST(Constant, RejectsMissingDuplicateAndStrings) {
  expect_error(run_op("Constant", {}), "Constant");
  Attributes two;
  two.set("value_int", int64_t{1});
  two.set("value_float", 1.0f);
  expect_error(run_op("Constant", {}, two), "Constant");
  Attributes text;
  text.set("value_string", std::string("hello"));
  expect_error(run_op("Constant", {}, text), "Constant", StatusCode::kUnimplemented);
  Attributes sparse;
  sparse.set("sparse_value", Tensor::scalar<float>(1));
  expect_error(run_op("Constant", {}, sparse), "Constant", StatusCode::kUnimplemented);
}

TEST(Shape, StartEndFromOpset15) {
  const Tensor x(DType::kFloat32, {2, 3, 4, 5});
  Attributes attrs;
  attrs.set("start", int64_t{1});
  attrs.set("end", int64_t{-1});
  auto out = run_op("Shape", {x}, attrs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].dtype(), DType::kInt64);
  EXPECT_EQ(values_of<int64_t>((*out)[0]), (std::vector<int64_t>{3, 4}));
  out = run_op("Shape", {x}, attrs, 1, 14);  // attributes do not exist yet
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<int64_t>((*out)[0]), (std::vector<int64_t>{2, 3, 4, 5}));
  attrs.set("start", int64_t{-10});
  attrs.set("end", int64_t{10});
  out = run_op("Shape", {x}, attrs);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<int64_t>((*out)[0]), (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST(Shape, InferComputesValueWhenDimsAreKnown) {
  Node node;
  node.name = "s";
  node.op_type = "Shape";
  node.inputs = {0};
  node.outputs = {1};
  InferContext known(node, 17, {{DType::kFloat32, {2, 3}, nullptr}});
  ASSERT_TRUE(OpRegistry::global().find("Shape")->infer(known).ok());
  ASSERT_TRUE(known.outputs()[0].data.has_value());
  EXPECT_EQ(values_of<int64_t>(*known.outputs()[0].data), (std::vector<int64_t>{2, 3}));
  InferContext dynamic(node, 17, {{DType::kFloat32, {-1, 3}, nullptr}});
  ASSERT_TRUE(OpRegistry::global().find("Shape")->infer(dynamic).ok());
  EXPECT_FALSE(dynamic.outputs()[0].data.has_value());
  EXPECT_EQ(dynamic.outputs()[0].shape, (Shape{2}));
}

TEST(ConstantOfShape, FillsWithValue) {
  Attributes attrs;
  attrs.set("value", Tensor::from_vector<int32_t>({1}, {5}));
  auto out = run_op("ConstantOfShape", {ints({2, 2})}, attrs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].dtype(), DType::kInt32);
  EXPECT_EQ(values_of<int32_t>((*out)[0]), (std::vector<int32_t>{5, 5, 5, 5}));
  out = run_op("ConstantOfShape", {ints({3})});
  ASSERT_TRUE(out.ok());
  expect_near((*out)[0], {3}, {0, 0, 0});
  expect_error(run_op("ConstantOfShape", {ints({2, -1})}), "ConstantOfShape");
}

TEST(Range, IntegerAndFloat) {
  auto out = run_op("Range", {Tensor::scalar<int32_t>(10), Tensor::scalar<int32_t>(4), Tensor::scalar<int32_t>(-3)});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(values_of<int32_t>((*out)[0]), (std::vector<int32_t>{10, 7}));
  out = run_op("Range", {Tensor::scalar<float>(1), Tensor::scalar<float>(2), Tensor::scalar<float>(0.25f)});
  ASSERT_TRUE(out.ok());
  expect_near((*out)[0], {4}, {1, 1.25f, 1.5f, 1.75f});
  out = run_op("Range", {Tensor::scalar<int64_t>(0), Tensor::scalar<int64_t>(-5), Tensor::scalar<int64_t>(1)});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{0}));
  expect_error(run_op("Range", {Tensor::scalar<int32_t>(0), Tensor::scalar<int32_t>(4), Tensor::scalar<int32_t>(0)}),
               "Range");
  expect_error(run_op("Range", {Tensor::scalar<int32_t>(0), Tensor::scalar<int64_t>(4), Tensor::scalar<int32_t>(1)}),
               "Range");
}

}  // namespace
}  // namespace kestrel
