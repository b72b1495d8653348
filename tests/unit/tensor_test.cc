#include <gtest/gtest.h>

#include <cmath>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace kestrel {
namespace {

TEST(Tensor, AllocatesAlignedZeroedMemory) {
  Tensor t(DType::kFloat32, {2, 3});
  EXPECT_EQ(t.size(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % kTensorAlignment, 0u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
}

TEST(Tensor, ScalarHasSizeOne) {
  Tensor t = Tensor::scalar<int64_t>(7);
  EXPECT_EQ(t.rank(), 0);
  EXPECT_EQ(t.size(), 1);
  EXPECT_EQ(t.int_at(0), 7);
}

TEST(Tensor, CopiesShareCloneDoesNot) {
  Tensor a = Tensor::from_vector<float>({2}, {1.0f, 2.0f});
  Tensor shared = a;
  Tensor cloned = a.clone();
  a.data<float>()[0] = 5.0f;
  EXPECT_EQ(shared.data<float>()[0], 5.0f);
  EXPECT_EQ(cloned.data<float>()[0], 1.0f);
}

TEST(DType, HalfRoundTrip) {
  for (float value : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(half_to_float(float_to_half(value)), value) << value;
  }
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(1e6f))));
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  // 1 + 2^-11 is halfway between 1 and the next half: ties to even (1.0).
  EXPECT_EQ(float_to_half(1.00048828125f), 0x3c00);
}

TEST(Graph, VerifierRejectsUseBeforeDefinition) {
  Graph graph;
  const ValueId x = graph.add_value({.name = "x", .dtype = DType::kFloat32});
  const ValueId y = graph.add_value({.name = "y", .dtype = DType::kFloat32});
  const ValueId z = graph.add_value({.name = "z", .dtype = DType::kFloat32});
  graph.inputs = {x};
  graph.nodes.push_back({.name = "b", .op_type = "Relu", .inputs = {y}, .outputs = {z}});
  graph.nodes.push_back({.name = "a", .op_type = "Relu", .inputs = {x}, .outputs = {y}});
  graph.outputs = {z};
  const Status status = graph.verify();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("node 'b' (Relu)"), std::string::npos) << status.message();
  std::swap(graph.nodes[0], graph.nodes[1]);
  EXPECT_TRUE(graph.verify().ok());
}

}  // namespace
}  // namespace kestrel
