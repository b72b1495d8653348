// Golden tests for the elementwise activations, unary math, binary and
// variadic ops, and the broadcasting helper.
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/reference/broadcast.h"
#include "unit/op_test_util.h"

namespace kestrel {
namespace {

using testing::expect_near;
using testing::run_op;
using testing::values_of;

Tensor f32(Shape shape, const std::vector<float>& values) {
  return Tensor::from_vector<float>(std::move(shape), values);
}

// Runs a one-output op and returns its output; fails the test on error.
Tensor run1(const std::string& op, const std::vector<Tensor>& inputs, Attributes attrs = {}, int64_t opset = 17) {
  auto result = run_op(op, inputs, std::move(attrs), 1, opset);
  EXPECT_TRUE(result.ok()) << result.status().message();
  if (!result.ok()) return Tensor(DType::kFloat32, {0});
  return result.value()[0];
}

// Expects the op to fail with `code` and a message naming the node and containing `fragment`.
void expect_error(const std::string& op, const std::vector<Tensor>& inputs, const std::string& fragment,
                  Attributes attrs = {}, int64_t opset = 17, StatusCode code = StatusCode::kInvalidArgument) {
  auto result = run_op(op, inputs, std::move(attrs), 1, opset);
  ASSERT_FALSE(result.ok()) << op << " unexpectedly succeeded";
  EXPECT_EQ(result.status().code(), code) << result.status().message();
  EXPECT_NE(result.status().message().find("node 'test_" + op + "' (" + op + ")"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find(fragment), std::string::npos) << result.status().message();
}

Attributes attrs_of(std::initializer_list<std::pair<const char*, AttributeValue>> entries) {
  Attributes attrs;
  for (const auto& [name, value] : entries) attrs.set(name, value);
  return attrs;
}

// ---- activations
TEST(ElementwiseActivation, Relu) {
  expect_near(run1("Relu", {f32({2, 2}, {-1.0f, 0.0f, 2.5f, -0.1f})}), {2, 2}, {0, 0, 2.5f, 0});
  Tensor ints = run1("Relu", {Tensor::from_vector<int8_t>({3}, {-5, 0, 7})}, {}, 14);
  EXPECT_EQ(values_of<int8_t>(ints), (std::vector<int8_t>{0, 0, 7}));
  expect_error("Relu", {Tensor::from_vector<int8_t>({1}, {1})}, "accepts float32, float64", {}, 13);
  expect_error("Relu", {f32({1}, {1}), f32({1}, {1})}, "expects 1 inputs, got 2");
}

TEST(ElementwiseActivation, LeakyRelu) {
  expect_near(run1("LeakyRelu", {f32({3}, {-2, 0, 3})}), {3}, {-0.02f, 0, 3});
  expect_near(run1("LeakyRelu", {f32({3}, {-2, 0, 3})}, attrs_of({{"alpha", 0.5f}})), {3}, {-1, 0, 3});
  expect_error("LeakyRelu", {Tensor::from_vector<int32_t>({1}, {1})}, "element type int32");
}

TEST(ElementwiseActivation, PReluBroadcastsSlopeToInput) {
  Tensor x = f32({2, 3}, {-1, -2, -3, 1, 2, 3});
  expect_near(run1("PRelu", {x, f32({3}, {0.1f, 0.2f, 0.3f})}), {2, 3}, {-0.1f, -0.4f, -0.9f, 1, 2, 3});
  expect_near(run1("PRelu", {x, f32({2, 1}, {0.5f, 2.0f})}), {2, 3}, {-0.5f, -1, -1.5f, 1, 2, 3});
  // The slope may not make the output bigger than X.
  expect_error("PRelu", {f32({3}, {1, 2, 3}), f32({2, 3}, {1, 1, 1, 1, 1, 1})}, "does not broadcast");
  expect_error("PRelu", {x, f32({2}, {1, 1})}, "does not broadcast to input shape [2,3]");
}

TEST(ElementwiseActivation, ClipWithInputs) {
  Tensor x = f32({5}, {-3, -1, 0, 1, 3});
  expect_near(run1("Clip", {x, Tensor::scalar<float>(-1.5f), Tensor::scalar<float>(2.0f)}), {5}, {-1.5f, -1, 0, 1, 2});
  expect_near(run1("Clip", {x, Tensor(), Tensor::scalar<float>(0.5f)}), {5}, {-3, -1, 0, 0.5f, 0.5f});
  expect_near(run1("Clip", {x, Tensor::scalar<float>(0.0f)}), {5}, {0, 0, 0, 1, 3});
  expect_near(run1("Clip", {x}), {5}, {-3, -1, 0, 1, 3});
  // min > max: every element becomes max.
  expect_near(run1("Clip", {x, Tensor::scalar<float>(2.0f), Tensor::scalar<float>(1.0f)}), {5}, {1, 1, 1, 1, 1});
}

TEST(ElementwiseActivation, ClipIntegersAndOldOpset) {
  Tensor x = Tensor::from_vector<int8_t>({4}, {-128, -5, 5, 127});
  Tensor y = run1("Clip", {x, Tensor::scalar<int8_t>(-10), Tensor::scalar<int8_t>(10)});
  EXPECT_EQ(values_of<int8_t>(y), (std::vector<int8_t>{-10, -5, 5, 10}));
  EXPECT_EQ(values_of<int8_t>(run1("Clip", {x})), (std::vector<int8_t>{-128, -5, 5, 127}));
  expect_error("Clip", {x}, "accepts float32, float64", {}, 11);
  // Before opset 11 the bounds are attributes.
  expect_near(run1("Clip", {f32({3}, {-2, 0, 2})}, attrs_of({{"min", -1.0f}, {"max", 1.0f}}), 6), {3}, {-1, 0, 1});
  expect_near(run1("Clip", {f32({3}, {-2, 0, 2})}, attrs_of({{"max", 1.0f}}), 6), {3}, {-2, 0, 1});
  expect_error("Clip", {f32({1}, {0}), f32({2}, {0, 1})}, "min (input 1) must be a scalar");
  expect_error("Clip", {f32({1}, {0}), Tensor::scalar<double>(0.0)}, "same element type");
}

TEST(ElementwiseActivation, SigmoidTanhErf) {
  Tensor x = f32({4}, {-1000, -1, 0, 2});
  expect_near(run1("Sigmoid", {x}), {4}, {0, 0.26894142f, 0.5f, 0.88079708f});
  expect_near(run1("Tanh", {x}), {4}, {-1, -0.76159416f, 0, 0.96402758f});
  expect_near(run1("Erf", {x}), {4}, {-1, -0.84270079f, 0, 0.99532227f});
  Tensor d = run1("Sigmoid", {Tensor::from_vector<double>({1}, {1.0})});
  EXPECT_NEAR(d.data<double>()[0], 0.7310585786300049, 1e-15);
}

TEST(ElementwiseActivation, HardSigmoidAndHardSwish) {
  Tensor x = f32({5}, {-4, -1, 0, 1, 4});
  expect_near(run1("HardSigmoid", {x}), {5}, {0, 0.3f, 0.5f, 0.7f, 1});
  expect_near(run1("HardSigmoid", {x}, attrs_of({{"alpha", 0.5f}, {"beta", 0.6f}})), {5}, {0, 0.1f, 0.6f, 1, 1});
  expect_near(run1("HardSwish", {x}), {5}, {0, -1.0f / 3, 0, 2.0f / 3, 4});
  expect_error("HardSwish", {x}, "needs opset 14", {}, 13);
}

// ---- unary math
TEST(ElementwiseUnaryMath, FloatFunctions) {
  Tensor x = f32({3}, {0.25f, 1, 4});
  expect_near(run1("Sqrt", {x}), {3}, {0.5f, 1, 2});
  expect_near(run1("Exp", {x}), {3}, {1.2840254f, 2.7182818f, 54.59815f}, 1e-4f);
  expect_near(run1("Log", {x}), {3}, {-1.3862944f, 0, 1.3862944f});
  expect_near(run1("Reciprocal", {x}), {3}, {4, 1, 0.25f});
  Tensor y = f32({4}, {-1.5f, -0.5f, 0.5f, 2});
  expect_near(run1("Floor", {y}), {4}, {-2, -1, 0, 2});
  expect_near(run1("Ceil", {y}), {4}, {-1, -0.0f, 1, 2});
  EXPECT_TRUE(std::isnan(run1("Sqrt", {f32({1}, {-1})}).data<float>()[0]));
  expect_error("Sqrt", {Tensor::from_vector<int32_t>({1}, {4})}, "element type int32");
}

TEST(ElementwiseUnaryMath, NegAndAbs) {
  expect_near(run1("Neg", {f32({2}, {-1.5f, 2})}), {2}, {1.5f, -2});
  Tensor i8 = Tensor::from_vector<int8_t>({3}, {-128, -3, 4});
  EXPECT_EQ(values_of<int8_t>(run1("Neg", {i8})), (std::vector<int8_t>{-128, 3, -4}));
  EXPECT_EQ(values_of<int8_t>(run1("Abs", {i8})), (std::vector<int8_t>{-128, 3, 4}));
  expect_near(run1("Abs", {f32({2}, {-1.5f, 2})}), {2}, {1.5f, 2});
  EXPECT_EQ(values_of<uint16_t>(run1("Abs", {Tensor::from_vector<uint16_t>({1}, {65535})})),
            (std::vector<uint16_t>{65535}));
  expect_error("Neg", {Tensor::from_vector<uint8_t>({1}, {1})}, "element type uint8");
}

// ---- binary
TEST(ElementwiseBinary, ArithmeticWithBroadcasting) {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor row = f32({3}, {10, 20, 30});
  expect_near(run1("Add", {a, row}), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_near(run1("Sub", {row, a}), {2, 3}, {9, 18, 27, 6, 15, 24});
  expect_near(run1("Mul", {a, Tensor::scalar<float>(2)}), {2, 3}, {2, 4, 6, 8, 10, 12});
  expect_near(run1("Div", {Tensor::scalar<float>(12), a}), {2, 3}, {12, 6, 4, 3, 2.4f, 2});
  // Both sides stretch: [2,1] x [1,3] -> [2,3].
  expect_near(run1("Mul", {f32({2, 1}, {1, 2}), f32({1, 3}, {1, 10, 100})}), {2, 3}, {1, 10, 100, 2, 20, 200});
  expect_near(run1("Add", {f32({0, 3}, {}), row}), {0, 3}, {});
}

TEST(ElementwiseBinary, IntegerArithmeticWraps) {
  Tensor a = Tensor::from_vector<uint8_t>({3}, {250, 3, 16});
  Tensor b = Tensor::from_vector<uint8_t>({3}, {10, 5, 16});
  EXPECT_EQ(values_of<uint8_t>(run1("Add", {a, b})), (std::vector<uint8_t>{4, 8, 32}));
  EXPECT_EQ(values_of<uint8_t>(run1("Sub", {a, b})), (std::vector<uint8_t>{240, 254, 0}));
  EXPECT_EQ(values_of<uint8_t>(run1("Mul", {a, b})), (std::vector<uint8_t>{196, 15, 0}));
  const int32_t big = std::numeric_limits<int32_t>::max();
  Tensor sum = run1("Add", {Tensor::scalar<int32_t>(big), Tensor::scalar<int32_t>(1)});
  EXPECT_EQ(sum.data<int32_t>()[0], std::numeric_limits<int32_t>::min());
  // uint8 arithmetic arrived at opset 14; int32 was allowed before.
  expect_error("Add", {a, b}, "accepts float32, int32, int64, float64, uint32, uint64", {}, 13);
  EXPECT_EQ(run1("Add", {Tensor::scalar<int32_t>(2), Tensor::scalar<int32_t>(3)}, {}, 13).data<int32_t>()[0], 5);
}

TEST(ElementwiseBinary, IntegerDivisionTruncates) {
  Tensor a = Tensor::from_vector<int32_t>({4}, {-7, 7, -7, std::numeric_limits<int32_t>::min()});
  Tensor b = Tensor::from_vector<int32_t>({4}, {2, 2, -2, -1});
  EXPECT_EQ(values_of<int32_t>(run1("Div", {a, b})),
            (std::vector<int32_t>{-3, 3, 3, std::numeric_limits<int32_t>::min()}));
  auto result = run_op("Div", {a, Tensor::from_vector<int32_t>({4}, {1, 0, 1, 1})});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("integer division by zero"), std::string::npos);
  EXPECT_TRUE(std::isinf(run1("Div", {f32({1}, {1}), f32({1}, {0})}).data<float>()[0]));
}

TEST(ElementwiseBinary, ShapeAndTypeErrors) {
  expect_error("Add", {f32({2, 3}, {}), f32({2}, {})}, "input shapes [2,3] and [2] cannot be broadcast");
  expect_error("Mul", {f32({1}, {1}), Tensor::from_vector<double>({1}, {1})}, "same element type");
  expect_error("Sub", {f32({1}, {1})}, "expects 2 inputs");
}

TEST(ElementwiseBinary, PowMixedTypes) {
  expect_near(run1("Pow", {f32({3}, {2, 4, -2}), f32({3}, {3, 0.5f, 2})}), {3}, {8, 2, 4});
  expect_near(run1("Pow", {f32({2, 2}, {1, 2, 3, 4}), Tensor::scalar<int64_t>(2)}), {2, 2}, {1, 4, 9, 16});
  expect_near(run1("Pow", {f32({2}, {2, 4}), Tensor::from_vector<uint32_t>({2}, {3, 1})}), {2}, {8, 4});
  Tensor ip = run1("Pow", {Tensor::from_vector<int64_t>({3}, {1, 2, 3}), f32({3}, {4, 5, 0.5f})});
  EXPECT_EQ(values_of<int64_t>(ip), (std::vector<int64_t>{1, 32, 1}));
  Tensor ii = run1(
      "Pow", {Tensor::from_vector<int32_t>({4}, {3, -2, 2, -1}), Tensor::from_vector<int32_t>({4}, {4, 3, -1, -3})});
  EXPECT_EQ(values_of<int32_t>(ii), (std::vector<int32_t>{81, -8, 0, -1}));
  Tensor big = run1("Pow", {Tensor::scalar<int64_t>(3), Tensor::scalar<int64_t>(39)});
  EXPECT_EQ(big.data<int64_t>()[0], 4052555153018976267LL);
  // Before opset 12 base and exponent share one float type.
  expect_error("Pow", {f32({1}, {2}), Tensor::scalar<int64_t>(2)}, "same element type", {}, 11);
  expect_error("Pow", {Tensor::scalar<uint8_t>(2), Tensor::scalar<uint8_t>(2)}, "element type uint8");
}

TEST(ElementwiseBinary, Equal) {
  Tensor eq = run1("Equal", {f32({2, 2}, {1, 2, 3, 4}), f32({2}, {1, 4})});
  ASSERT_EQ(eq.dtype(), DType::kBool);
  EXPECT_EQ(values_of<bool>(eq), (std::vector<bool>{true, false, false, true}));
  Tensor eb = run1("Equal", {Tensor::from_vector<bool>({2}, {true, false}), Tensor::scalar<bool>(false)});
  EXPECT_EQ(values_of<bool>(eb), (std::vector<bool>{false, true}));
  Tensor ei = run1("Equal", {Tensor::from_vector<int64_t>({2}, {5, 6}), Tensor::scalar<int64_t>(6)});
  EXPECT_EQ(values_of<bool>(ei), (std::vector<bool>{false, true}));
}

// ---- variadic and Where
TEST(ElementwiseVariadic, MinMaxSum) {
  Tensor a = f32({2, 2}, {1, 5, 3, 8});
  Tensor b = f32({2}, {4, 4});
  Tensor c = Tensor::scalar<float>(2);
  expect_near(run1("Max", {a, b, c}), {2, 2}, {4, 5, 4, 8});
  expect_near(run1("Min", {a, b, c}), {2, 2}, {1, 2, 2, 2});
  expect_near(run1("Sum", {a, b, c}), {2, 2}, {7, 11, 9, 14});
  expect_near(run1("Sum", {b}), {2}, {4, 4});
  // A single input still broadcasts nothing; a lower-rank first input is stretched.
  expect_near(run1("Max", {b, a}), {2, 2}, {4, 5, 4, 8});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(run1("Max", {f32({1}, {nan}), f32({1}, {1})}).data<float>()[0]));
  EXPECT_TRUE(std::isnan(run1("Min", {f32({1}, {1}), f32({1}, {nan})}).data<float>()[0]));
  Tensor ints = run1("Max", {Tensor::from_vector<uint16_t>({2}, {1, 9}), Tensor::from_vector<uint16_t>({2}, {3, 2})});
  EXPECT_EQ(values_of<uint16_t>(ints), (std::vector<uint16_t>{3, 9}));
  expect_error("Max", {a, f32({3}, {1, 2, 3})}, "[2,2], [3] cannot be broadcast");
  expect_error("Sum", {Tensor::scalar<int32_t>(1)}, "element type int32");
  expect_error("Min", {Tensor::scalar<int32_t>(1)}, "element type int32", {}, 11);
}

Tensor f16(Shape shape, const std::vector<float>& values) {
  Tensor t(DType::kFloat16, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) t.data<uint16_t>()[i] = float_to_half(values[i]);
  return t;
}

std::vector<float> floats_of_half(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::kFloat16);
  std::vector<float> values;
  for (int64_t i = 0; i < t.size(); ++i) values.push_back(half_to_float(t.data<uint16_t>()[i]));
  return values;
}

TEST(ElementwiseVariadic, Float16MinMaxSum) {
  Tensor a = f16({3}, {1.0f, -2.0f, 3.0f});
  Tensor b = f16({3}, {2.0f, -3.0f, 0.5f});
  EXPECT_EQ(floats_of_half(run1("Max", {a, b})), (std::vector<float>{2.0f, -2.0f, 3.0f}));
  EXPECT_EQ(floats_of_half(run1("Min", {a, b})), (std::vector<float>{1.0f, -3.0f, 0.5f}));
  // Halfs above 2048 are 2 apart: 3 + 2048 ties between 2050 and 2052 and
  // rounds to even (2052); 3.5 + 2048 rounds to nearest (2052).
  EXPECT_EQ(floats_of_half(run1("Sum", {a, b, f16({1}, {2048.0f})})), (std::vector<float>{2052.0f, 2043.0f, 2052.0f}));
  expect_error("Add", {a, b}, "float16, which only Cast supports", {}, 17, StatusCode::kUnimplemented);
}

TEST(ElementwiseVariadic, WhereBroadcastsAllThree) {
  Tensor cond = Tensor::from_vector<bool>({2, 1}, {true, false});
  Tensor x = f32({3}, {1, 2, 3});
  Tensor y = Tensor::scalar<float>(-1);
  expect_near(run1("Where", {cond, x, y}), {2, 3}, {1, 2, 3, -1, -1, -1});
  Tensor ix =
      run1("Where", {Tensor::from_vector<bool>({3}, {false, true, false}), Tensor::from_vector<int64_t>({3}, {1, 2, 3}),
                     Tensor::from_vector<int64_t>({3}, {7, 8, 9})});
  EXPECT_EQ(values_of<int64_t>(ix), (std::vector<int64_t>{7, 2, 9}));
  expect_error("Where", {x, x, x}, "condition (input 0) must be bool");
  expect_error("Where", {cond, x, Tensor::scalar<double>(1)}, "same element type");
}

// ---- broadcasting helper
TEST(ElementwiseBroadcast, ShapeRule) {
  EXPECT_EQ(broadcast_shapes({{2, 1, 3}, {4, 1}}), (Shape{2, 4, 3}));
  EXPECT_EQ(broadcast_shapes({{}, {5}}), (Shape{5}));
  EXPECT_EQ(broadcast_shapes({{-1, 3}, {4, 1}}), (Shape{4, 3}));
  EXPECT_EQ(broadcast_shapes({{-1, 3}, {1, 3}}), (Shape{-1, 3}));
  EXPECT_EQ(broadcast_shapes({{0, 3}, {1, 3}}), (Shape{0, 3}));
  EXPECT_FALSE(broadcast_shapes({{2, 3}, {3, 2}}).has_value());
  EXPECT_TRUE(broadcasts_to({3, 1}, {2, 3, 4}));
  EXPECT_FALSE(broadcasts_to({2, 3, 4}, {3, 4}));
}

// The row walker must agree with a naive index computation on shapes that
// mix stretched and full dims in several patterns.
TEST(ElementwiseBroadcast, GeneralPathMatchesNaiveIndexing) {
  const Shape a_shape{2, 1, 3, 1, 2};
  const Shape b_shape{4, 1, 5, 1};
  const Shape out_shape{2, 4, 3, 5, 2};
  std::vector<float> a_values(12), b_values(20);
  for (size_t i = 0; i < a_values.size(); ++i) a_values[i] = static_cast<float>(i);
  for (size_t i = 0; i < b_values.size(); ++i) b_values[i] = static_cast<float>(100 * i);
  Tensor out = run1("Add", {f32(a_shape, a_values), f32(b_shape, b_values)});
  ASSERT_EQ(out.shape(), out_shape);
  int64_t i = 0;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t p = 0; p < 4; ++p)
      for (int64_t q = 0; q < 3; ++q)
        for (int64_t r = 0; r < 5; ++r)
          for (int64_t s = 0; s < 2; ++s, ++i) {
            const float expected = a_values[(n * 3 + q) * 2 + s] + b_values[p * 5 + r];
            ASSERT_EQ(out.data<float>()[i], expected) << "at " << n << p << q << r << s;
          }
}

}  // namespace
}  // namespace kestrel
