// Golden tests for Cast, Identity, Dropout, QuantizeLinear and DequantizeLinear.
#include <cmath>
#include <cstdint>
#include <limits>

#include "unit/op_test_util.h"

namespace kestrel {
namespace {

using testing::expect_near;
using testing::run_op;
using testing::values_of;

Tensor f32(Shape shape, const std::vector<float>& values) {
  return Tensor::from_vector<float>(std::move(shape), values);
}

StatusOr<std::vector<Tensor>> run_with(const std::string& op, const std::vector<Tensor>& inputs,
                                       std::initializer_list<std::pair<const char*, AttributeValue>> attrs = {},
                                       int64_t opset = 17, size_t num_outputs = 1) {
  Attributes a;
  for (const auto& [name, value] : attrs) a.set(name, value);
  return run_op(op, inputs, std::move(a), num_outputs, opset);
}

Tensor run1(const std::string& op, const std::vector<Tensor>& inputs,
            std::initializer_list<std::pair<const char*, AttributeValue>> attrs = {}, int64_t opset = 17) {
  auto result = run_with(op, inputs, attrs, opset);
  EXPECT_TRUE(result.ok()) << result.status().message();
  if (!result.ok()) return Tensor(DType::kFloat32, {0});
  return result.value()[0];
}

void expect_failure(const StatusOr<std::vector<Tensor>>& result, const std::string& op, StatusCode code,
                    const std::string& fragment) {
  ASSERT_FALSE(result.ok()) << op << " unexpectedly succeeded";
  EXPECT_EQ(result.status().code(), code) << result.status().message();
  EXPECT_NE(result.status().message().find("node 'test_" + op + "' (" + op + ")"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status().message();
}

Tensor cast(const Tensor& x, DType to) { return run1("Cast", {x}, {{"to", static_cast<int64_t>(to)}}); }

// ---- Cast
TEST(ElementwiseCast, FloatToIntegersTruncatesAndSaturates) {
  Tensor x = f32({5}, {-1.7f, 2.9f, 300.0f, -300.0f, std::numeric_limits<float>::quiet_NaN()});
  EXPECT_EQ(values_of<int32_t>(cast(x, DType::kInt32)), (std::vector<int32_t>{-1, 2, 300, -300, 0}));
  EXPECT_EQ(values_of<uint8_t>(cast(x, DType::kUInt8)), (std::vector<uint8_t>{0, 2, 255, 0, 0}));
  EXPECT_EQ(values_of<int8_t>(cast(x, DType::kInt8)), (std::vector<int8_t>{-1, 2, 127, -128, 0}));
  Tensor big = cast(Tensor::scalar<double>(1e30), DType::kInt64);
  EXPECT_EQ(big.data<int64_t>()[0], std::numeric_limits<int64_t>::max());
}

TEST(ElementwiseCast, IntegersAndBool) {
  Tensor x = Tensor::from_vector<int64_t>({4}, {-1, 0, 256 + 7, 1LL << 40});
  EXPECT_EQ(values_of<int8_t>(cast(x, DType::kInt8)), (std::vector<int8_t>{-1, 0, 7, 0}));
  EXPECT_EQ(values_of<uint16_t>(cast(x, DType::kUInt16)), (std::vector<uint16_t>{65535, 0, 263, 0}));
  EXPECT_EQ(values_of<bool>(cast(x, DType::kBool)), (std::vector<bool>{true, false, true, true}));
  expect_near(cast(Tensor::from_vector<bool>({2}, {true, false}), DType::kFloat32), {2}, {1, 0});
  Tensor d = cast(Tensor::from_vector<int64_t>({1}, {(1LL << 53) + 1}), DType::kFloat64);
  EXPECT_EQ(d.data<double>()[0], 9007199254740992.0);
  EXPECT_EQ(values_of<bool>(cast(f32({3}, {0.0f, -0.0f, 0.5f}), DType::kBool)),
            (std::vector<bool>{false, false, true}));
}

TEST(ElementwiseCast, Float16) {
  Tensor h = cast(f32({3}, {1.0f, -2.5f, 65536.0f}), DType::kFloat16);
  ASSERT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_EQ(values_of<uint16_t>(h), (std::vector<uint16_t>{0x3c00, 0xc100, 0x7c00}));
  EXPECT_EQ(values_of<float>(cast(h, DType::kFloat32)),
            (std::vector<float>{1.0f, -2.5f, std::numeric_limits<float>::infinity()}));
  EXPECT_EQ(values_of<int32_t>(cast(h, DType::kInt32))[1], -2);
  // 1 + 2^-11 + 2^-40 lies just above the tie between halfs 1 and 1 + 2^-10;
  // going through float32 would round it onto the tie and then down to 1.
  Tensor above_tie = cast(Tensor::scalar<double>(1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)), DType::kFloat16);
  EXPECT_EQ(above_tie.data<uint16_t>()[0], 0x3c01);
  Tensor tie = cast(Tensor::scalar<double>(1.0 + std::ldexp(1.0, -11)), DType::kFloat16);
  EXPECT_EQ(tie.data<uint16_t>()[0], 0x3c00);
}

TEST(ElementwiseCast, Errors) {
  expect_failure(run_with("Cast", {f32({1}, {1})}), "Cast", StatusCode::kInvalidArgument,
                 "missing required attribute 'to'");
  expect_failure(run_with("Cast", {f32({1}, {1})}, {{"to", int64_t{8}}}), "Cast", StatusCode::kUnimplemented,
                 "string is not supported");
  expect_failure(run_with("Cast", {f32({1}, {1})}, {{"to", int64_t{16}}}), "Cast", StatusCode::kUnimplemented,
                 "bfloat16");
  expect_failure(run_with("Cast", {f32({1}, {1})}, {{"to", int64_t{99}}}), "Cast", StatusCode::kInvalidArgument,
                 "'to' = 99");
}

// ---- Identity and Dropout
TEST(ElementwisePassThrough, IdentityCopiesAnyType) {
  Tensor x = Tensor::from_vector<int64_t>({2, 2}, {1, -2, 3, 4});
  Tensor y = run1("Identity", {x});
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{1, -2, 3, 4}));
  EXPECT_NE(y.raw_data(), x.raw_data());
  EXPECT_EQ(values_of<bool>(run1("Identity", {Tensor::from_vector<bool>({2}, {true, false})})),
            (std::vector<bool>{true, false}));
}

TEST(ElementwisePassThrough, DropoutIsIdentityWithTrueMask) {
  Tensor x = f32({2, 2}, {1, -2, 3, 4});
  auto result = run_with("Dropout", {x, Tensor::scalar<float>(0.5f), Tensor::scalar<bool>(false)}, {}, 13, 2);
  ASSERT_TRUE(result.ok()) << result.status().message();
  expect_near(result.value()[0], {2, 2}, {1, -2, 3, 4});
  ASSERT_EQ(result.value()[1].dtype(), DType::kBool);
  EXPECT_EQ(values_of<bool>(result.value()[1]), (std::vector<bool>{true, true, true, true}));
  expect_near(run1("Dropout", {x}, {{"ratio", 0.2f}}, 11), {2, 2}, {1, -2, 3, 4});
}

TEST(ElementwisePassThrough, DropoutErrors) {
  Tensor x = f32({2}, {1, 2});
  expect_failure(run_with("Dropout", {x, Tensor(), Tensor::scalar<bool>(true)}), "Dropout", StatusCode::kUnimplemented,
                 "training mode is not supported");
  expect_failure(run_with("Dropout", {x, Tensor::scalar<float>(1.5f)}), "Dropout", StatusCode::kInvalidArgument,
                 "ratio must be in [0, 1)");
  expect_failure(run_with("Dropout", {x, Tensor::scalar<float>(0.5f)}, {}, 11), "Dropout", StatusCode::kInvalidArgument,
                 "expects 1 inputs, got 2");
  expect_failure(run_with("Dropout", {x, Tensor(), Tensor::scalar<int32_t>(0)}), "Dropout",
                 StatusCode::kInvalidArgument, "training_mode (input 2) must be bool");
}

// ---- QuantizeLinear
TEST(ElementwiseQuantize, PerTensorSaturatesAndRoundsHalfToEven) {
  Tensor x = f32({6}, {0, 2, 3, 1000, -254, -1000});
  Tensor y = run1("QuantizeLinear", {x, Tensor::scalar<float>(2), Tensor::scalar<uint8_t>(128)});
  ASSERT_EQ(y.dtype(), DType::kUInt8);
  EXPECT_EQ(values_of<uint8_t>(y), (std::vector<uint8_t>{128, 129, 130, 255, 1, 0}));
  // x / 2 = 0.5, 1.5, 2.5, -0.5, -1.5 round to 0, 2, 2, 0, -2.
  Tensor ties = f32({5}, {1, 3, 5, -1, -3});
  Tensor q = run1("QuantizeLinear", {ties, Tensor::scalar<float>(2), Tensor::scalar<int8_t>(0)});
  ASSERT_EQ(q.dtype(), DType::kInt8);
  EXPECT_EQ(values_of<int8_t>(q), (std::vector<int8_t>{0, 2, 2, 0, -2}));
  Tensor sat = run1("QuantizeLinear", {f32({2}, {1000, -1000}), Tensor::scalar<float>(1), Tensor::scalar<int8_t>(10)});
  EXPECT_EQ(values_of<int8_t>(sat), (std::vector<int8_t>{127, -128}));
  // No zero point: uint8 with zero point 0.
  Tensor u = run1("QuantizeLinear", {f32({3}, {-1, 1.2f, 2.6f}), Tensor::scalar<float>(1)});
  ASSERT_EQ(u.dtype(), DType::kUInt8);
  EXPECT_EQ(values_of<uint8_t>(u), (std::vector<uint8_t>{0, 1, 3}));
  Tensor from_int = run1("QuantizeLinear", {Tensor::from_vector<int32_t>({2}, {7, -9}), Tensor::scalar<float>(2),
                                            Tensor::scalar<int8_t>(1)});
  EXPECT_EQ(values_of<int8_t>(from_int), (std::vector<int8_t>{5, -3}));
}

TEST(ElementwiseQuantize, PerAxis) {
  // x [2,3] quantized along axis 1 (the default) and axis 0 / -2.
  Tensor x = f32({2, 3}, {2, 4, 6, -2, -4, -6});
  Tensor scale3 = f32({3}, {1, 2, 4});
  Tensor zp3 = Tensor::from_vector<int8_t>({3}, {0, 10, -10});
  EXPECT_EQ(values_of<int8_t>(run1("QuantizeLinear", {x, scale3, zp3})), (std::vector<int8_t>{2, 12, -8, -2, 8, -12}));
  Tensor scale2 = f32({2}, {2, 1});
  Tensor by_row =
      run1("QuantizeLinear", {x, scale2, Tensor::from_vector<uint8_t>({2}, {100, 50})}, {{"axis", int64_t{-2}}});
  EXPECT_EQ(values_of<uint8_t>(by_row), (std::vector<uint8_t>{101, 102, 103, 48, 46, 44}));
}

TEST(ElementwiseQuantize, Errors) {
  Tensor x = f32({2, 3}, {});
  expect_failure(run_with("QuantizeLinear", {x, f32({3}, {1, 1, 1})}, {}, 12), "QuantizeLinear",
                 StatusCode::kInvalidArgument, "scalar before opset 13");
  expect_failure(run_with("QuantizeLinear", {x, f32({2}, {1, 1})}), "QuantizeLinear", StatusCode::kInvalidArgument,
                 "scale has 2 elements but axis 1 of the input has 3");
  expect_failure(run_with("QuantizeLinear", {x, f32({3}, {1, 1, 1})}, {{"axis", int64_t{2}}}), "QuantizeLinear",
                 StatusCode::kInvalidArgument, "axis 2 is out of range");
  expect_failure(run_with("QuantizeLinear", {x, Tensor::scalar<float>(1), Tensor::scalar<int32_t>(0)}),
                 "QuantizeLinear", StatusCode::kInvalidArgument, "input 2 has element type int32");
  expect_failure(run_with("QuantizeLinear", {x, f32({3}, {1, 1, 1}), Tensor::scalar<uint8_t>(0)}), "QuantizeLinear",
                 StatusCode::kInvalidArgument, "zero point shape [] differs from scale shape [3]");
  expect_failure(run_with("QuantizeLinear", {x, Tensor::scalar<double>(1)}), "QuantizeLinear",
                 StatusCode::kInvalidArgument, "scale (input 1) must be float32");
}

// ---- DequantizeLinear
TEST(ElementwiseDequantize, PerTensorAndPerAxis) {
  Tensor q = Tensor::from_vector<uint8_t>({4}, {0, 3, 128, 255});
  expect_near(run1("DequantizeLinear", {q, Tensor::scalar<float>(2), Tensor::scalar<uint8_t>(128)}), {4},
              {-256, -250, 0, 254});
  Tensor s8 = Tensor::from_vector<int8_t>({3}, {-128, 0, 127});
  expect_near(run1("DequantizeLinear", {s8, Tensor::scalar<float>(0.5f)}), {3}, {-64, 0, 63.5f});
  Tensor i32 = Tensor::from_vector<int32_t>({2}, {std::numeric_limits<int32_t>::min(), 1000});
  expect_near(run1("DequantizeLinear", {i32, Tensor::scalar<float>(0.001f)}), {2}, {-2147483.648f, 1.0f}, 0.5f);
  Tensor x = Tensor::from_vector<uint8_t>({1, 2, 2}, {10, 20, 30, 40});
  expect_near(run1("DequantizeLinear", {x, f32({2}, {1, 0.5f}), Tensor::from_vector<uint8_t>({2}, {10, 20})}),
              {1, 2, 2}, {0, 10, 5, 10});
  expect_failure(run_with("DequantizeLinear", {x, Tensor::scalar<float>(1), Tensor::scalar<int8_t>(0)}),
                 "DequantizeLinear", StatusCode::kInvalidArgument, "same element type");
  expect_failure(run_with("DequantizeLinear", {f32({1}, {1}), Tensor::scalar<float>(1)}), "DequantizeLinear",
                 StatusCode::kInvalidArgument, "input 0 has element type float32");
}

}  // namespace
}  // namespace kestrel
