// Golden tests for Slice, Pad, Expand and Tile.
#include <gtest/gtest.h>

#include <limits>

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

std::vector<float> iota(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return v;
}

Attributes mode(const std::string& name) {
  Attributes attrs;
  attrs.set("mode", name);
  return attrs;
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(Slice, DefaultAxesClampEnds) {
  const Tensor x = f32({3, 4}, iota(12));
  auto out = run_op("Slice", {x, ints({1, 0}), ints({3, 10})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 4}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11}));
}

TEST(Slice, NegativeStepsAndAxes) {
  const Tensor x = f32({3, 4}, iota(12));
  auto out = run_op("Slice", {x, ints({-1}), ints({kMin}), ints({-1}), ints({-2})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{3, 1, 7, 5, 11, 9}));
  // Reverse everything along axis 0 with int32 arguments.
  auto i32 = [](const std::vector<int32_t>& v) {
    return Tensor::from_vector<int32_t>({static_cast<int64_t>(v.size())}, v);
  };
  out = run_op("Slice", {x, i32({10}), i32({-10}), i32({0}), i32({-1})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 4}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3}));
}

TEST(Slice, EmptyResultAndHugeStep) {
  const Tensor x = f32({3, 4}, iota(12));
  auto out = run_op("Slice", {x, ints({5}), ints({kMax}), ints({1})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 0}));
  out = run_op("Slice", {x, ints({1}), ints({kMax}), ints({1}), ints({kMax})});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{1, 5, 9}));
}

TEST(Slice, RejectsBadArguments) {
  const Tensor x = f32({3, 4}, iota(12));
  expect_error(run_op("Slice", {x, ints({0}), ints({1}), ints({0}), ints({0})}), "Slice");
  expect_error(run_op("Slice", {x, ints({0, 0}), ints({1, 1}), ints({1, -1})}), "Slice");
  expect_error(run_op("Slice", {x, ints({0}), ints({1, 1})}), "Slice");
  expect_error(run_op("Slice", {x, ints({0}), ints({1}), ints({2})}), "Slice");
  expect_error(run_op("Slice", {x, f32({1}, {0}), ints({1})}), "Slice");
}

TEST(Pad, ConstantWithValue) {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run_op("Pad", {x, ints({0, 1, 1, 0}), Tensor::scalar<float>(9)});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 4}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9}));
  // Default constant 0 and a negative pad that crops.
  out = run_op("Pad", {x, ints({0, -1, 1, 0})});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{2, 3, 5, 6, 0, 0}));
}

TEST(Pad, ReflectAndEdge) {
  const Tensor x = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run_op("Pad", {x, ints({0, 2, 0, 2})}, mode("reflect"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 7}));
  EXPECT_EQ(values_of<int32_t>((*out)[0]), (std::vector<int32_t>{3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4}));
  out = run_op("Pad", {x, ints({1, 0, 0, 1})}, mode("edge"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 4}));
  EXPECT_EQ(values_of<int32_t>((*out)[0]), (std::vector<int32_t>{1, 2, 3, 3, 1, 2, 3, 3, 4, 5, 6, 6}));
}

TEST(Pad, RejectsBadArguments) {
  const Tensor x = f32({2, 3}, iota(6));
  expect_error(run_op("Pad", {x, ints({0, 1})}), "Pad");
  expect_error(run_op("Pad", {x, ints({0, 0, 0, 0})}, mode("wrap")), "Pad");
  expect_error(run_op("Pad", {x, ints({0, 0, 0, 0}), Tensor::scalar<int32_t>(1)}), "Pad");
  expect_error(run_op("Pad", {x, ints({0, -2, 0, -2})}), "Pad");
  expect_error(run_op("Pad", {Tensor(DType::kFloat32, {0, 2}), ints({1, 0, 0, 0})}, mode("edge")), "Pad");
  expect_error(run_op("Pad", {x, ints({0, 0, 0, 0}), Tensor(), ints({0})}), "Pad", StatusCode::kUnimplemented);
}

TEST(Expand, BroadcastsBothWays) {
  const Tensor x = f32({3, 1}, {1, 2, 3});
  auto out = run_op("Expand", {x, ints({2, 1, 2})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(values_of<float>((*out)[0]), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  expect_error(run_op("Expand", {x, ints({2, 4})}), "Expand");
}

TEST(Tile, RepeatsEachAxis) {
  const Tensor x = Tensor::from_vector<uint8_t>({2, 2}, {1, 2, 3, 4});
  auto out = run_op("Tile", {x, ints({2, 2})});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].shape(), (Shape{4, 4}));
  EXPECT_EQ(values_of<uint8_t>((*out)[0]), (std::vector<uint8_t>{1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4}));
  expect_error(run_op("Tile", {x, ints({2})}), "Tile");
  expect_error(run_op("Tile", {x, ints({1, -1})}), "Tile");
}

}  // namespace
}  // namespace kestrel
