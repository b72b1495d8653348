// Small helpers shared by the NN op golden tests (nn_*_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "unit/op_test_util.h"

namespace kestrel::testing::nn_test {

using Ints = std::vector<int64_t>;

inline Attributes make_attrs(std::initializer_list<std::pair<const char*, AttributeValue>> entries) {
  Attributes attrs;
  for (const auto& [name, value] : entries) attrs.set(name, value);
  return attrs;
}

inline Tensor floats(Shape shape, const std::vector<float>& values) {
  return Tensor::from_vector<float>(std::move(shape), values);
}

// 0, 1, 2, ... in the given shape.
inline Tensor iota(Shape shape, float start = 0.0f) {
  std::vector<float> values(static_cast<size_t>(shape_size(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = start + static_cast<float>(i);
  return floats(std::move(shape), values);
}

// Deterministic pseudo-random values in [-1, 1).
inline std::vector<float> pseudo_random(size_t count, uint32_t seed) {
  std::vector<float> values(count);
  uint32_t state = seed;
  for (float& v : values) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return values;
}

// Runs an op expected to succeed and returns output `index`.
inline Tensor run_ok(const std::string& op_type, const std::vector<Tensor>& inputs, Attributes attrs = {},
                     int64_t opset = 17, size_t num_outputs = 1, size_t index = 0) {
  auto result = run_op(op_type, inputs, std::move(attrs), num_outputs, opset);
  EXPECT_TRUE(result.ok()) << result.status().message();
  if (!result.ok()) return Tensor();
  return result.value()[index];
}

// Runs an op expected to fail; checks the code and that the message names the node.
inline void expect_failure(const std::string& op_type, const std::vector<Tensor>& inputs, Attributes attrs,
                           StatusCode code, const std::string& fragment, int64_t opset = 17, size_t num_outputs = 1) {
  auto result = run_op(op_type, inputs, std::move(attrs), num_outputs, opset);
  ASSERT_FALSE(result.ok()) << op_type << " unexpectedly succeeded";
  EXPECT_EQ(result.status().code(), code) << result.status().message();
  const std::string& message = result.status().message();
  EXPECT_NE(message.find("node 'test_" + op_type + "' (" + op_type + ")"), std::string::npos) << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

// Runs only the shape function, with inputs described by dtype and shape
// (`data` optional), as at compile time.
inline StatusOr<InferContext::Output> infer_only(const std::string& op_type, std::vector<TensorInfo> infos,
                                                 Attributes attrs = {}, int64_t opset = 17) {
  const OpDef* def = OpRegistry::global().find(op_type);
  if (def == nullptr) return not_found("op ", op_type, " is not registered");
  Node node;
  node.name = "test_" + op_type;
  node.op_type = op_type;
  node.attrs = std::move(attrs);
  for (size_t i = 0; i < infos.size(); ++i) node.inputs.push_back(static_cast<ValueId>(i));
  node.outputs.push_back(static_cast<ValueId>(infos.size()));
  InferContext ctx(node, opset, std::move(infos));
  KESTREL_RETURN_IF_ERROR(def->infer(ctx));
  return ctx.outputs()[0];
}

}  // namespace kestrel::testing::nn_test
