// Small ONNX models built in code for import and bad-input tests.
#pragma once

#include <onnx/onnx_pb.h>

#include <fstream>
#include <string>
#include <vector>

namespace kestrel::testing {

inline onnx::ModelProto make_model(int64_t opset = 13) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("kestrel-tests");
  auto* import = model.add_opset_import();
  import->set_domain("");
  import->set_version(opset);
  model.mutable_graph()->set_name("test");
  return model;
}

inline void add_tensor_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name,
                             const std::vector<int64_t>& shape, int elem_type = onnx::TensorProto::FLOAT) {
  auto* value = list->Add();
  value->set_name(name);
  auto* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  for (int64_t dim : shape) {
    if (dim < 0) tensor->mutable_shape()->add_dim()->set_dim_param("N");
    else tensor->mutable_shape()->add_dim()->set_dim_value(dim);
  }
}

inline onnx::NodeProto* add_node(onnx::ModelProto& model, const std::string& op, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs, const std::string& name = "") {
  auto* node = model.mutable_graph()->add_node();
  node->set_op_type(op);
  node->set_name(name);
  for (const auto& in : inputs) node->add_input(in);
  for (const auto& out : outputs) node->add_output(out);
  return node;
}

inline onnx::TensorProto* add_float_initializer(onnx::ModelProto& model, const std::string& name,
                                                const std::vector<int64_t>& dims, const std::vector<float>& values) {
  auto* init = model.mutable_graph()->add_initializer();
  init->set_name(name);
  init->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t dim : dims) init->add_dims(dim);
  for (float v : values) init->add_float_data(v);
  return init;
}

// x [N,2] -> Relu -> y
inline onnx::ModelProto make_relu_model() {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 2});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 2});
  add_node(model, "Relu", {"x"}, {"y"}, "relu");
  return model;
}

inline void save_model(const onnx::ModelProto& model, const std::string& path) {
  std::ofstream file(path, std::ios::binary);
  model.SerializeToOstream(&file);
}

}  // namespace kestrel::testing
