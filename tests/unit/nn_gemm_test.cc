// Golden tests for Gemm, MatMul, BatchNormalization, Softmax and LogSoftmax.
#include <cmath>

#include "unit/nn_test_util.h"

namespace kestrel::testing {
namespace {

using namespace nn_test;

const Tensor kA = floats({2, 3}, {1, 2, 3, 4, 5, 6});
const Tensor kB = floats({3, 2}, {7, 8, 9, 10, 11, 12});

// ---- Gemm ----

TEST(NnGemm, DefaultNoBias) { expect_near(run_ok("Gemm", {kA, kB}), {2, 2}, {58, 64, 139, 154}); }

TEST(NnGemm, TransposesAlphaBetaAndVectorBias) {
  const Tensor a_t = floats({3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor b_t = floats({2, 3}, {7, 9, 11, 8, 10, 12});
  const Tensor y =
      run_ok("Gemm", {a_t, b_t, floats({2}, {1, 2})},
             make_attrs({{"transA", int64_t{1}}, {"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}}));
  expect_near(y, {2, 2}, {31, 36, 71.5f, 81});
}

TEST(NnGemm, BiasShapesBroadcast) {
  expect_near(run_ok("Gemm", {kA, kB, Tensor::scalar<float>(1)}), {2, 2}, {59, 65, 140, 155});
  expect_near(run_ok("Gemm", {kA, kB, floats({2, 1}, {1, 2})}), {2, 2}, {59, 65, 141, 156});
  expect_near(run_ok("Gemm", {kA, kB, floats({2, 2}, {1, 2, 3, 4})}), {2, 2}, {59, 66, 142, 158});
}

TEST(NnGemm, Int64) {
  const Tensor a = Tensor::from_vector<int64_t>({1, 2}, {3, -4});
  const Tensor b = Tensor::from_vector<int64_t>({2, 1}, {5, 6});
  const Tensor y = run_ok("Gemm", {a, b, Tensor::from_vector<int64_t>({1}, {100})});
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{91}));
}

TEST(NnGemm, LargeMatchesNaive) {
  const int64_t m = 7, k = 300, n = 600;
  const Tensor a = floats({m, k}, pseudo_random(m * k, 3));
  const Tensor b = floats({n, k}, pseudo_random(n * k, 4));
  const Tensor y = run_ok("Gemm", {a, b}, make_attrs({{"transB", int64_t{1}}}));
  std::vector<float> expected(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += a.data<float>()[i * k + p] * b.data<float>()[j * k + p];
      expected[i * n + j] = static_cast<float>(sum);
    }
  expect_near(y, {m, n}, expected, 1e-4f);
}

TEST(NnGemm, RejectsBadShapes) {
  const auto kInvalid = StatusCode::kInvalidArgument;
  expect_failure("Gemm", {iota({1, 2, 3}), kB}, {}, kInvalid, "2-D");
  expect_failure("Gemm", {kA, kA}, {}, kInvalid, "inner dims");
  expect_failure("Gemm", {kA, kB, floats({3}, {})}, {}, kInvalid, "cannot be broadcast");
  expect_failure("Gemm", {kA, kB}, make_attrs({{"transA", int64_t{2}}}), kInvalid, "transA");
  expect_failure("Gemm", {kA, kB}, {}, kInvalid, "inputs", /*opset=*/9);
  expect_failure("Gemm", {kA, Tensor::from_vector<double>({3, 2}, {})}, {}, kInvalid, "element type");
}

// ---- MatMul ----

TEST(NnMatMul, TwoD) { expect_near(run_ok("MatMul", {kA, kB}), {2, 2}, {58, 64, 139, 154}); }

TEST(NnMatMul, OneDimensionalOperands) {
  expect_near(run_ok("MatMul", {floats({3}, {1, 2, 3}), kB}), {2}, {58, 64});
  expect_near(run_ok("MatMul", {kA, floats({3}, {1, 1, 1})}), {2}, {6, 15});
  expect_near(run_ok("MatMul", {floats({3}, {1, 2, 3}), floats({3}, {4, 5, 6})}), {}, {32});
  expect_near(run_ok("MatMul", {floats({3}, {1, 2, 3}), floats({2, 3, 1}, {1, 0, 0, 0, 0, 1})}), {2, 1}, {1, 3});
}

TEST(NnMatMul, BroadcastsBatchDims) {
  // A[i] = (i + 1) * I, B[j] = (j + 1) * M, so Y[i, j] = (i + 1) * (j + 1) * M.
  const Tensor a = floats({2, 1, 2, 2}, {1, 0, 0, 1, 2, 0, 0, 2});
  const Tensor b = floats({3, 2, 2}, {1, 2, 3, 4, 2, 4, 6, 8, 3, 6, 9, 12});
  const Tensor y = run_ok("MatMul", {a, b});
  std::vector<float> expected;
  for (int i = 1; i <= 2; ++i)
    for (int j = 1; j <= 3; ++j)
      for (float v : {1.f, 2.f, 3.f, 4.f}) expected.push_back(static_cast<float>(i * j) * v);
  expect_near(y, {2, 3, 2, 2}, expected);
}

TEST(NnMatMul, Int32AndFloat64) {
  const Tensor a = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(values_of<int32_t>(run_ok("MatMul", {a, a})), (std::vector<int32_t>{7, 10, 15, 22}));
  const Tensor d = Tensor::from_vector<double>({1, 2}, {0.5, 0.25});
  const Tensor e = Tensor::from_vector<double>({2, 1}, {2, 4});
  EXPECT_EQ(values_of<double>(run_ok("MatMul", {d, e})), (std::vector<double>{2.0}));
}

TEST(NnMatMul, RejectsBadShapes) {
  const auto kInvalid = StatusCode::kInvalidArgument;
  expect_failure("MatMul", {kA, kA}, {}, kInvalid, "inner dims");
  expect_failure("MatMul", {iota({2, 2, 3}), iota({3, 3, 2})}, {}, kInvalid, "cannot be broadcast");
  expect_failure("MatMul", {Tensor::scalar<float>(1), kB}, {}, kInvalid, "rank >= 1");
  expect_failure("MatMul", {Tensor::from_vector<int8_t>({1, 1}, {1}), Tensor::from_vector<int8_t>({1, 1}, {1})}, {},
                 StatusCode::kUnimplemented, "int8");
}

// ---- BatchNormalization ----

std::vector<Tensor> batch_norm_inputs() {
  return {floats({1, 2, 1, 2}, {1, 2, 3, 4}), floats({2}, {1, 2}), floats({2}, {0, 1}), floats({2}, {1, 3}),
          floats({2}, {4, 0.25f})};
}

TEST(NnBatchNorm, Inference) {
  const Tensor y = run_ok("BatchNormalization", batch_norm_inputs(), make_attrs({{"epsilon", 0.0f}}));
  expect_near(y, {1, 2, 1, 2}, {0, 0.5f, 1, 5});
  // The default epsilon 1e-5 is applied.
  const Tensor y_default = run_ok("BatchNormalization", batch_norm_inputs());
  EXPECT_NEAR(y_default.data<float>()[3], 1 + 2 * 1 / std::sqrt(0.25f + 1e-5f), 1e-6f);
}

TEST(NnBatchNorm, TrainingAndItsOutputsAreRejected) {
  expect_failure("BatchNormalization", batch_norm_inputs(), make_attrs({{"training_mode", int64_t{1}}}),
                 StatusCode::kUnimplemented, "training_mode");
  expect_failure("BatchNormalization", batch_norm_inputs(), {}, StatusCode::kUnimplemented, "optional output 1",
                 /*opset=*/12, /*num_outputs=*/5);
  expect_failure("BatchNormalization", batch_norm_inputs(), {}, StatusCode::kInvalidArgument,
                 "only produced with training_mode=1", /*opset=*/15, /*num_outputs=*/3);
}

TEST(NnBatchNorm, RejectsBadShapes) {
  std::vector<Tensor> inputs = batch_norm_inputs();
  inputs[1] = floats({3}, {1, 1, 1});
  expect_failure("BatchNormalization", inputs, {}, StatusCode::kInvalidArgument, "scale");
  inputs = batch_norm_inputs();
  inputs[0] = floats({4}, {});
  expect_failure("BatchNormalization", inputs, {}, StatusCode::kInvalidArgument, "rank >= 2");
  inputs.pop_back();
  expect_failure("BatchNormalization", inputs, {}, StatusCode::kInvalidArgument, "inputs");
}

// ---- Softmax / LogSoftmax ----

TEST(NnSoftmax, DefaultLastAxis) {
  const Tensor y = run_ok("Softmax", {floats({2, 3}, {1, 2, 3, 0, 0, 0})});
  expect_near(y, {2, 3}, {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.f, 1 / 3.f, 1 / 3.f});
}

TEST(NnSoftmax, LeadingAxis) {
  const Tensor y = run_ok("Softmax", {floats({2, 2}, {0, 1, 0, 3})}, make_attrs({{"axis", int64_t{0}}}));
  expect_near(y, {2, 2}, {0.5f, 0.11920292f, 0.5f, 0.88079708f});
}

TEST(NnSoftmax, OpsetElevenFlattensFromAxis) {
  const Tensor x = floats({1, 2, 2}, {0, 1, 2, 3});
  expect_near(run_ok("Softmax", {x}, {}, 11), {1, 2, 2}, {0.0320586f, 0.08714432f, 0.23688282f, 0.64391426f});
  expect_near(run_ok("Softmax", {x}, {}, 13), {1, 2, 2}, {0.26894142f, 0.73105858f, 0.26894142f, 0.73105858f});
  expect_near(run_ok("Softmax", {x}, make_attrs({{"axis", int64_t{-1}}}), 12), {1, 2, 2},
              {0.26894142f, 0.73105858f, 0.26894142f, 0.73105858f});
}

TEST(NnSoftmax, LargeValuesDoNotOverflow) {
  expect_near(run_ok("Softmax", {floats({1, 2}, {1000, 1001})}), {1, 2}, {0.26894142f, 0.73105858f});
  expect_near(run_ok("LogSoftmax", {floats({1, 2}, {1000, 1001})}), {1, 2}, {-1.31326169f, -0.31326169f});
}

TEST(NnLogSoftmax, Values) {
  expect_near(run_ok("LogSoftmax", {floats({3}, {1, 2, 3})}), {3}, {-2.40760596f, -1.40760596f, -0.40760596f});
  const Tensor d = run_ok("LogSoftmax", {Tensor::from_vector<double>({2}, {0, 0})});
  EXPECT_NEAR(d.data<double>()[1], -std::log(2.0), 1e-12);
}

TEST(NnSoftmax, RejectsBadAxis) {
  expect_failure("Softmax", {iota({2, 3})}, make_attrs({{"axis", int64_t{2}}}), StatusCode::kInvalidArgument,
                 "axis 2 is out of range");
  expect_failure("LogSoftmax", {iota({2, 3})}, make_attrs({{"axis", int64_t{-3}}}), StatusCode::kInvalidArgument,
                 "out of range");
  expect_failure("Softmax", {Tensor::from_vector<int32_t>({2}, {1, 2})}, {}, StatusCode::kUnimplemented, "int32");
}

}  // namespace
}  // namespace kestrel::testing
