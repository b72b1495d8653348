// Helpers for golden tests of single ops: build a node, run it through the
// op table's shape function and reference kernel.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/op_registry.h"

namespace kestrel::testing {

// Runs `op_type` with the given attributes on `inputs` (an empty Tensor marks
// an omitted optional input) and returns its outputs.
inline StatusOr<std::vector<Tensor>> run_op(const std::string& op_type, const std::vector<Tensor>& inputs,
                                            Attributes attrs = {}, size_t num_outputs = 1, int64_t opset = 17) {
  const OpDef* def = OpRegistry::global().find(op_type);
  if (def == nullptr) return not_found("op ", op_type, " is not registered");
  Node node;
  node.name = "test_" + op_type;
  node.op_type = op_type;
  node.attrs = std::move(attrs);
  std::vector<const Tensor*> pointers;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i].empty() ? kNoValue : static_cast<ValueId>(i));
    pointers.push_back(inputs[i].empty() ? nullptr : &inputs[i]);
  }
  for (size_t i = 0; i < num_outputs; ++i) node.outputs.push_back(static_cast<ValueId>(inputs.size() + i));
  return run_node(*def, node, opset, pointers);
}

// The result is an error of `code` whose message names the node run_op made.
inline void expect_error(const StatusOr<std::vector<Tensor>>& result, const std::string& op,
                         StatusCode code = StatusCode::kInvalidArgument) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), code) << result.status().message();
  EXPECT_NE(result.status().message().find("node 'test_" + op + "' (" + op + ")"), std::string::npos)
      << result.status().message();
}

// How many nodes of `graph` run `op_type`.
inline int count_ops(const Graph& graph, const std::string& op_type) {
  int count = 0;
  for (const Node& node : graph.nodes) count += node.op_type == op_type;
  return count;
}

// A 1-D int64 tensor (shapes, axes, pads, ...).
inline Tensor ints(const std::vector<int64_t>& values) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

template <typename T>
std::vector<T> values_of(const Tensor& tensor) {
  return std::vector<T>(tensor.data<T>(), tensor.data<T>() + tensor.size());
}

inline void expect_near(const Tensor& actual, const Shape& shape, const std::vector<float>& expected,
                        float tolerance = 1e-5f) {
  ASSERT_EQ(actual.dtype(), DType::kFloat32);
  ASSERT_EQ(actual.shape(), shape);
  ASSERT_EQ(static_cast<size_t>(actual.size()), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(actual.data<float>()[i], expected[i], tolerance) << "at element " << i;
  }
}

}  // namespace kestrel::testing
