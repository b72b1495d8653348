// Golden tests for the Reduce* ops.
#include <cmath>

#include "unit/nn_test_util.h"

namespace kestrel::testing {
namespace {

using namespace nn_test;

// [[1, 2, 3], [4, 5, 6]]
const Tensor kX = floats({2, 3}, {1, 2, 3, 4, 5, 6});

Tensor axes_tensor(const std::vector<int64_t>& axes) {
  const int64_t count = static_cast<int64_t>(axes.size());
  return Tensor::from_vector<int64_t>({count}, axes);
}

TEST(NnReduce, MeanKeepdimsAndNegativeAxes) {
  expect_near(run_ok("ReduceMean", {kX}, make_attrs({{"axes", Ints{1}}})), {2, 1}, {2, 5});
  expect_near(run_ok("ReduceMean", {kX}, make_attrs({{"axes", Ints{-2}}, {"keepdims", int64_t{0}}})), {3},
              {2.5f, 3.5f, 4.5f});
  expect_near(run_ok("ReduceMean", {kX}), {1, 1}, {3.5f});
  expect_near(run_ok("ReduceMean", {kX}, make_attrs({{"keepdims", int64_t{0}}})), {}, {3.5f});
}

TEST(NnReduce, NonAdjacentAxes) {
  // x[i, j, k] = 6i + 2j + k, so the mean over i and k is 3 + 2j + 0.5.
  const Tensor y = run_ok("ReduceMean", {iota({2, 3, 2})}, make_attrs({{"axes", Ints{0, 2}}}));
  expect_near(y, {1, 3, 1}, {3.5f, 5.5f, 7.5f});
  const Tensor middle =
      run_ok("ReduceSum", {iota({2, 3, 2}), axes_tensor({1})}, make_attrs({{"keepdims", int64_t{0}}}));
  expect_near(middle, {2, 2}, {6, 9, 24, 27});
}

TEST(NnReduce, MaxMinProd) {
  const Tensor x = floats({2, 2}, {3, -1, -4, 2});
  expect_near(run_ok("ReduceMax", {x}, make_attrs({{"axes", Ints{0}}})), {1, 2}, {3, 2});
  expect_near(run_ok("ReduceMin", {x}, make_attrs({{"axes", Ints{1}}})), {2, 1}, {-1, -4});
  expect_near(run_ok("ReduceProd", {x}), {1, 1}, {24});
}

TEST(NnReduce, NormsAndLogs) {
  const Tensor x = floats({1, 2}, {3, -4});
  expect_near(run_ok("ReduceSumSquare", {x}), {1, 1}, {25});
  expect_near(run_ok("ReduceL1", {x}), {1, 1}, {7});
  expect_near(run_ok("ReduceL2", {x}), {1, 1}, {5});
  expect_near(run_ok("ReduceLogSum", {floats({2}, {1, 2})}), {1}, {std::log(3.0f)});
  expect_near(run_ok("ReduceLogSumExp", {floats({2}, {0, 0})}), {1}, {std::log(2.0f)});
}

TEST(NnReduce, SumAxesInputFromOpset13) {
  expect_near(run_ok("ReduceSum", {kX, axes_tensor({1})}), {2, 1}, {6, 15});
  expect_near(run_ok("ReduceSum", {kX, axes_tensor({-1, 0})}, make_attrs({{"keepdims", int64_t{0}}})), {}, {21});
  // Omitted or empty axes reduce everything, unless noop_with_empty_axes is set.
  expect_near(run_ok("ReduceSum", {kX}), {1, 1}, {21});
  expect_near(run_ok("ReduceSum", {kX, axes_tensor({})}), {1, 1}, {21});
  expect_near(run_ok("ReduceSum", {kX, axes_tensor({})}, make_attrs({{"noop_with_empty_axes", int64_t{1}}})), {2, 3},
              {1, 2, 3, 4, 5, 6});
}

TEST(NnReduce, SumAxesAttributeBeforeOpset13) {
  expect_near(run_ok("ReduceSum", {kX}, make_attrs({{"axes", Ints{0}}}), 11), {1, 3}, {5, 7, 9});
  expect_failure("ReduceSum", {kX, axes_tensor({0})}, {}, StatusCode::kInvalidArgument, "expects 1", 11);
  expect_failure("ReduceSum", {kX}, make_attrs({{"axes", Ints{0}}}), StatusCode::kInvalidArgument, "not an attribute",
                 13);
}

TEST(NnReduce, AxesInputMustBeConstantAtCompileTime) {
  auto out = infer_only("ReduceSum", {{DType::kFloat32, {2, 3}}, {DType::kInt64, {1}}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(out.status().message().find("node 'test_ReduceSum' (ReduceSum)"), std::string::npos);
  EXPECT_NE(out.status().message().find("depends on the value of input 1"), std::string::npos);
  const Tensor axes = axes_tensor({0});
  auto known = infer_only("ReduceSum", {{DType::kFloat32, {-1, 3}}, {DType::kInt64, {1}, &axes}},
                          make_attrs({{"keepdims", int64_t{0}}}));
  ASSERT_TRUE(known.ok()) << known.status().message();
  EXPECT_EQ(known->shape, (Shape{3}));
}

TEST(NnReduce, IntegerTypes) {
  const Tensor x = Tensor::from_vector<int32_t>({2, 2}, {5, -7, 3, 9});
  EXPECT_EQ(values_of<int32_t>(run_ok("ReduceMax", {x}, make_attrs({{"axes", Ints{1}}}))),
            (std::vector<int32_t>{5, 9}));
  EXPECT_EQ(values_of<int32_t>(run_ok("ReduceMin", {x})), (std::vector<int32_t>{-7}));
  const Tensor y = Tensor::from_vector<int64_t>({3}, {1, 2, -10});
  EXPECT_EQ(values_of<int64_t>(run_ok("ReduceSum", {y})), (std::vector<int64_t>{-7}));
  const Tensor u = Tensor::from_vector<uint8_t>({2}, {200, 100});
  EXPECT_EQ(values_of<uint8_t>(run_ok("ReduceMax", {u})), (std::vector<uint8_t>{200}));
}

TEST(NnReduce, RejectsBadAxes) {
  expect_failure("ReduceMean", {kX}, make_attrs({{"axes", Ints{2}}}), StatusCode::kInvalidArgument,
                 "axis 2 is out of range");
  expect_failure("ReduceMax", {kX}, make_attrs({{"axes", Ints{1, -1}}}), StatusCode::kInvalidArgument, "twice");
  expect_failure("ReduceMin", {kX}, make_attrs({{"keepdims", int64_t{2}}}), StatusCode::kInvalidArgument, "keepdims");
  expect_failure("ReduceSum", {kX, Tensor::from_vector<int32_t>({1}, {0})}, {}, StatusCode::kInvalidArgument, "int64");
}

}  // namespace
}  // namespace kestrel::testing
