#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "frontend/onnx/onnx_importer.h"
#include "frontend/onnx/onnx_tensor.h"
#include "onnx_test_models.h"
#include "runtime/interpreter.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

onnx::TensorProto proto_with_dims(int type, const std::vector<int64_t>& dims) {
  onnx::TensorProto proto;
  proto.set_name("w");
  proto.set_data_type(type);
  for (int64_t dim : dims) proto.add_dims(dim);
  return proto;
}

TEST(OnnxTensor, RawData) {
  auto proto = proto_with_dims(onnx::TensorProto::FLOAT, {2});
  const float values[2] = {1.5f, -2.0f};
  proto.set_raw_data(values, sizeof(values));
  auto tensor = tensor_from_onnx(proto, ".");
  ASSERT_TRUE(tensor.ok()) << tensor.status().message();
  EXPECT_EQ(tensor->data<float>()[1], -2.0f);
}

TEST(OnnxTensor, TypedFieldsIncludingWidenedSmallTypes) {
  auto floats = proto_with_dims(onnx::TensorProto::FLOAT, {3});
  for (float v : {1.0f, 2.0f, 3.0f}) floats.add_float_data(v);
  EXPECT_EQ(tensor_from_onnx(floats, ".")->data<float>()[2], 3.0f);

  auto int8s = proto_with_dims(onnx::TensorProto::INT8, {2});  // int8 lives in int32_data
  int8s.add_int32_data(-128);
  int8s.add_int32_data(127);
  auto int8_tensor = tensor_from_onnx(int8s, ".");
  ASSERT_TRUE(int8_tensor.ok());
  EXPECT_EQ(int8_tensor->dtype(), DType::kInt8);
  EXPECT_EQ(int8_tensor->data<int8_t>()[0], -128);

  auto int64s = proto_with_dims(onnx::TensorProto::INT64, {1});
  int64s.add_int64_data(int64_t{1} << 40);
  EXPECT_EQ(tensor_from_onnx(int64s, ".")->data<int64_t>()[0], int64_t{1} << 40);

  auto doubles = proto_with_dims(onnx::TensorProto::DOUBLE, {1});
  doubles.add_double_data(0.25);
  EXPECT_EQ(tensor_from_onnx(doubles, ".")->data<double>()[0], 0.25);

  auto halves = proto_with_dims(onnx::TensorProto::FLOAT16, {1});
  halves.add_int32_data(0x3c00);  // 1.0
  EXPECT_EQ(half_to_float(tensor_from_onnx(halves, ".")->data<uint16_t>()[0]), 1.0f);
}

TEST(OnnxTensor, SizeMismatchIsDataLoss) {
  auto proto = proto_with_dims(onnx::TensorProto::FLOAT, {4});
  proto.add_float_data(1.0f);
  auto tensor = tensor_from_onnx(proto, ".");
  ASSERT_FALSE(tensor.ok());
  EXPECT_NE(tensor.status().message().find("tensor 'w'"), std::string::npos) << tensor.status().message();
  auto raw = proto_with_dims(onnx::TensorProto::FLOAT, {4});
  raw.set_raw_data(std::string(12, '\0'));
  EXPECT_FALSE(tensor_from_onnx(raw, ".").ok());
}

TEST(OnnxImport, ExternalDataNextToTheModel) {
  const std::string dir = scratch_dir();
  const float bias[2] = {10.0f, 20.0f};
  {
    std::ofstream data(dir + "/weights.bin", std::ios::binary);
    data.write("padding!", 8);  // the tensor starts at an offset
    data.write(reinterpret_cast<const char*>(bias), sizeof(bias));
  }
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 2});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {1, 2});
  add_node(model, "Add", {"x", "b"}, {"y"}, "add");
  auto* init = model.mutable_graph()->add_initializer();
  *init = proto_with_dims(onnx::TensorProto::FLOAT, {2});
  init->set_name("b");
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [key, value] : {std::pair{"location", "weights.bin"}, {"offset", "8"}, {"length", "8"}}) {
    auto* entry = init->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  save_model(model, dir + "/model.onnx");

  auto graph = import_onnx_file(dir + "/model.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  auto interpreter = Interpreter::create(std::make_shared<const Graph>(std::move(graph).value()));
  ASSERT_TRUE(interpreter.ok()) << interpreter.status().message();
  auto outputs = interpreter->run({{"x", Tensor::from_vector<float>({1, 2}, {1.0f, 2.0f})}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  EXPECT_EQ((*outputs)[0].data<float>()[0], 11.0f);
  EXPECT_EQ((*outputs)[0].data<float>()[1], 22.0f);

  std::filesystem::resize_file(dir + "/weights.bin", 12);
  auto truncated = import_onnx_file(dir + "/model.onnx");
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("too short"), std::string::npos) << truncated.status().message();
}

TEST(OnnxImport, AttributesAndOpsetAreRead) {
  auto model = make_model(11);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 2});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {1, 2});
  auto* node = add_node(model, "LeakyRelu", {"x"}, {"y"}, "leaky");
  auto* alpha = node->add_attribute();
  alpha->set_name("alpha");
  alpha->set_type(onnx::AttributeProto::FLOAT);
  alpha->set_f(0.5f);
  std::string bytes;
  model.SerializeToString(&bytes);
  auto graph = import_onnx_bytes(bytes, ".", "inline");
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  EXPECT_EQ(graph->opset, 11);
  ASSERT_EQ(graph->nodes.size(), 1u);
  EXPECT_EQ(graph->nodes[0].attrs.get_float("alpha", 0.01f), 0.5f);
  EXPECT_EQ(graph->value(graph->inputs[0]).shape, (Shape{1, 2}));
}

TEST(OnnxImport, DynamicDimsAreMinusOne) {
  std::string bytes;
  make_relu_model().SerializeToString(&bytes);
  auto graph = import_onnx_bytes(bytes, ".", "inline");
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(graph->value(graph->inputs[0]).shape, (Shape{-1, 2}));
}

TEST(OnnxImport, RejectsOpsetOutsideTheSupportedRange) {
  std::string bytes;
  make_model(18).SerializeToString(&bytes);
  auto graph = import_onnx_bytes(bytes, ".", "m.onnx");
  ASSERT_FALSE(graph.ok());
  EXPECT_NE(graph.status().message().find("opset 18"), std::string::npos) << graph.status().message();
}

}  // namespace
}  // namespace kestrel::testing
