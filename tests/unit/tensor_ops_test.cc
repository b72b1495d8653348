// Golden tests for the shape-only and data-movement tensor ops: Flatten,
// Reshape, Squeeze, Unsqueeze, Transpose, DepthToSpace, SpaceToDepth,
// Concat, Split, Gather.
#include <gtest/gtest.h>

#include "unit/op_test_util.h"

namespace kestrel {
namespace {

using testing::expect_error;
using testing::ints;
using testing::run_op;
using testing::values_of;

Tensor f32(Shape shape, const std::vector<float>& values) {
  return Tensor::from_vector<float>(std::move(shape), values);
}
Tensor i64(Shape shape, const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>(std::move(shape), values);
}

std::vector<float> iota(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

Attributes attr(const std::string& name, AttributeValue value) {
  Attributes attrs;
  attrs.set(name, std::move(value));
  return attrs;
}

TEST(Flatten, DefaultAndNegativeAxis) {
  const Tensor x = f32({2, 3, 4}, iota(24));
  auto out = run_op("Flatten", {x});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 12}));
  EXPECT_EQ(values_of<float>((*out)[0]), iota(24));
  out = run_op("Flatten", {x}, attr("axis", int64_t{-1}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{6, 4}));
  out = run_op("Flatten", {x}, attr("axis", int64_t{0}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 24}));
  out = run_op("Flatten", {x}, attr("axis", int64_t{3}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{24, 1}));
  expect_error(run_op("Flatten", {x}, attr("axis", int64_t{4})), "Flatten");
}

TEST(Reshape, ZeroCopiesDimAndMinusOneInfers) {
  const Tensor x = f32({2, 3, 4}, iota(24));
  auto out = run_op("Reshape", {x, ints({0, -1})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 12}));
  EXPECT_EQ(values_of<float>((*out)[0]), iota(24));
  out = run_op("Reshape", {x, ints({4, 0, -1})});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{4, 3, 2}));
}

TEST(Reshape, AllowZeroKeepsZeroDims) {
  Attributes attrs = attr("allowzero", int64_t{1});
  const Tensor empty(DType::kFloat32, {0, 3});
  auto out = run_op("Reshape", {empty, ints({3, 0})}, attrs);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 0}));
  // Without allowzero the 0 copies input dim 1 (3): 9 elements != 0.
  expect_error(run_op("Reshape", {empty, ints({3, 0})}), "Reshape");
  expect_error(run_op("Reshape", {empty, ints({0, -1})}, attrs), "Reshape");
}

TEST(Reshape, RejectsBadShapes) {
  const Tensor x = f32({2, 3}, iota(6));
  expect_error(run_op("Reshape", {x, ints({4, -1})}), "Reshape");
  expect_error(run_op("Reshape", {x, ints({-1, -1})}), "Reshape");
  expect_error(run_op("Reshape", {x, ints({5})}), "Reshape");
  expect_error(run_op("Reshape", {x, ints({1, 1, 0})}), "Reshape");
  expect_error(run_op("Reshape", {x, ints({-2, 3})}), "Reshape");
}

TEST(Reshape, NonConstantShapeIsUnimplemented) {
  Node node;
  node.name = "r";
  node.op_type = "Reshape";
  node.inputs = {0, 1};
  node.outputs = {2};
  InferContext ctx(node, 17, {{DType::kFloat32, {2, 3}, nullptr}, {DType::kInt64, {2}, nullptr}});
  const Status status = OpRegistry::global().find("Reshape")->infer(ctx);
  EXPECT_EQ(status.code(), StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("node 'r' (Reshape): output shape depends on the value of input 1"),
            std::string::npos)
      << status.message();
}

TEST(Squeeze, AxesInputAndAttribute) {
  const Tensor x = f32({1, 3, 1, 2}, iota(6));
  auto out = run_op("Squeeze", {x, ints({-2})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 3, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), iota(6));
  out = run_op("Squeeze", {x});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2}));
  out = run_op("Squeeze", {x}, attr("axes", std::vector<int64_t>{0}), 1, 11);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 1, 2}));
  expect_error(run_op("Squeeze", {x, ints({1})}), "Squeeze");
  expect_error(run_op("Squeeze", {x, ints({4})}), "Squeeze");
  expect_error(run_op("Squeeze", {x, ints({0, -4})}), "Squeeze");
}

TEST(Unsqueeze, InsertsAxesInOutputPositions) {
  const Tensor x = f32({3, 2}, iota(6));
  auto out = run_op("Unsqueeze", {x, ints({3, 0})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 3, 2, 1}));
  EXPECT_EQ(values_of<float>((*out)[0]), iota(6));
  out = run_op("Unsqueeze", {x, ints({-1})});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2, 1}));
  out = run_op("Unsqueeze", {x}, attr("axes", std::vector<int64_t>{1}), 1, 12);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 1, 2}));
  expect_error(run_op("Unsqueeze", {x, ints({1, 1})}), "Unsqueeze");
  expect_error(run_op("Unsqueeze", {x, ints({3})}), "Unsqueeze");
  expect_error(run_op("Unsqueeze", {x}), "Unsqueeze");
}

TEST(Transpose, DefaultReversesAxes) {
  const Tensor x = f32({2, 3}, iota(6));
  auto out = run_op("Transpose", {x});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Transpose, PermKeepingInnerAxisAndAnyType) {
  const Tensor x = Tensor::from_vector<int16_t>({2, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  auto out = run_op("Transpose", {x}, attr("perm", std::vector<int64_t>{1, 0, 2}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(values_of<int16_t>((*out)[0]), (std::vector<int16_t>{0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11}));
  out = run_op("Transpose", {x}, attr("perm", std::vector<int64_t>{2, 0, 1}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(values_of<int16_t>((*out)[0]), (std::vector<int16_t>{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11}));
  expect_error(run_op("Transpose", {x}, attr("perm", std::vector<int64_t>{0, 0, 1})), "Transpose");
  expect_error(run_op("Transpose", {x}, attr("perm", std::vector<int64_t>{1, 0})), "Transpose");
}

TEST(DepthToSpace, DcrAndCrdModes) {
  const Tensor x = f32({1, 4, 1, 2}, iota(8));  // channel c holds {2c, 2c+1}
  auto out = run_op("DepthToSpace", {x}, attr("blocksize", int64_t{2}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 1, 2, 4}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  Attributes crd = attr("blocksize", int64_t{2});
  crd.set("mode", std::string("CRD"));
  out = run_op("DepthToSpace", {x}, crd);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  const Tensor y = f32({1, 8, 1, 1}, iota(8));  // 2 output channels: modes differ
  out = run_op("DepthToSpace", {y}, attr("blocksize", int64_t{2}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7}));
  out = run_op("DepthToSpace", {y}, crd);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<float>((*out)[0]), iota(8));
  expect_error(run_op("DepthToSpace", {f32({1, 3, 1, 1}, iota(3))}, attr("blocksize", int64_t{2})), "DepthToSpace");
}

TEST(SpaceToDepth, InvertsDepthToSpace) {
  const Tensor x = f32({1, 1, 2, 4}, {0, 2, 1, 3, 4, 6, 5, 7});
  auto out = run_op("SpaceToDepth", {x}, attr("blocksize", int64_t{2}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 4, 1, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), iota(8));
  expect_error(run_op("SpaceToDepth", {f32({1, 1, 3, 4}, iota(12))}, attr("blocksize", int64_t{2})), "SpaceToDepth");
  expect_error(run_op("SpaceToDepth", {f32({2, 4}, iota(8))}, attr("blocksize", int64_t{2})), "SpaceToDepth");
}

TEST(Concat, MiddleAxisAndNegativeAxis) {
  const Tensor a = f32({2, 1, 2}, {0, 1, 2, 3});
  const Tensor b = f32({2, 2, 2}, {10, 11, 12, 13, 14, 15, 16, 17});
  auto out = run_op("Concat", {a, b}, attr("axis", int64_t{-2}));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17}));
  expect_error(run_op("Concat", {a, b}, attr("axis", int64_t{0})), "Concat");
  expect_error(run_op("Concat", {a, b}), "Concat");
  expect_error(run_op("Concat", {a, f32({2, 1}, {0, 1})}, attr("axis", int64_t{1})), "Concat");
  expect_error(run_op("Concat", {a, i64({2, 1, 2}, {0, 1, 2, 3})}, attr("axis", int64_t{1})), "Concat");
}

TEST(Split, EqualPartsAndSplitInput) {
  const Tensor x = f32({2, 4}, iota(8));
  auto out = run_op("Split", {x}, attr("axis", int64_t{1}), 2);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 1, 4, 5}));
  EXPECT_EQ(values_of<float>((*out)[1]), (std::vector<float>{2, 3, 6, 7}));
  out = run_op("Split", {x, ints({1, 3})}, attr("axis", int64_t{-1}), 2);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 4}));
  EXPECT_EQ(values_of<float>((*out)[1]), (std::vector<float>{1, 2, 3, 5, 6, 7}));
  expect_error(run_op("Split", {x}, attr("axis", int64_t{1}), 3), "Split");
  expect_error(run_op("Split", {x, ints({1, 2})}, attr("axis", int64_t{1}), 2), "Split");
  expect_error(run_op("Split", {x, ints({4})}, attr("axis", int64_t{1}), 2), "Split");
}

TEST(Split, AttributeBeforeOpset13) {
  const Tensor x = f32({5}, iota(5));
  auto out = run_op("Split", {x}, attr("split", std::vector<int64_t>{2, 0, 3}), 3, 11);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{0, 1}));
  EXPECT_EQ((*out)[1].shape(), (Shape{0}));
  EXPECT_EQ(values_of<float>((*out)[2]), (std::vector<float>{2, 3, 4}));
}

TEST(Gather, AxisAndNegativeIndices) {
  const Tensor x = f32({3, 2}, iota(6));
  auto out = run_op("Gather", {x, i64({2, 2}, {2, -3, 1, 1})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{4, 5, 0, 1, 2, 3, 2, 3}));
  out = run_op("Gather", {x, Tensor::from_vector<int32_t>({1}, {-1})}, attr("axis", int64_t{1}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 1}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{1, 3, 5}));
  out = run_op("Gather", {x, Tensor::scalar<int64_t>(1)});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{2, 3}));
  expect_error(run_op("Gather", {x, ints({3})}), "Gather");
  expect_error(run_op("Gather", {x, ints({0})}, attr("axis", int64_t{2})), "Gather");
  expect_error(run_op("Gather", {x, f32({1}, {0})}), "Gather");
}

}  // namespace
}  // namespace kestrel
