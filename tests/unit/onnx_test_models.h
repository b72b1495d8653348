// Small ONNX models built in code for import and bad-input tests.
#pragma once

#include <onnx/onnx_pb.h>

#include <cmath>
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

// A conv with deterministic pseudo-random weights (sin pattern), pads k/2.
inline void add_pattern_conv(onnx::ModelProto& model, const std::string& name, const std::string& x,
                             const std::string& y, int64_t cin, int64_t cout, int64_t kernel, float seed) {
  std::vector<float> w(static_cast<size_t>(cout * cin * kernel * kernel)), b(static_cast<size_t>(cout));
  const float fan_in = static_cast<float>(cin * kernel * kernel);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = std::sin(seed + 0.77f * static_cast<float>(i)) * 1.7f / std::sqrt(fan_in);
  for (size_t i = 0; i < b.size(); ++i) b[i] = 0.1f * std::cos(seed + static_cast<float>(i));
  add_float_initializer(model, name + ".w", {cout, cin, kernel, kernel}, w);
  add_float_initializer(model, name + ".b", {cout}, b);
  auto* node = add_node(model, "Conv", {x, name + ".w", name + ".b"}, {y}, name);
  auto* pads = node->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(kernel / 2);
}

// Relu(add_pattern_conv(x)) -> y.
inline void add_relu_pattern_conv(onnx::ModelProto& model, const std::string& name, const std::string& x,
                                  const std::string& y, int64_t cin, int64_t cout, int64_t kernel, float seed) {
  add_pattern_conv(model, name, x, name + ".pre", cin, cout, kernel, seed);
  add_node(model, "Relu", {name + ".pre"}, {y}, name + ".relu");
}

// Gemm(`flat` [N,8], fixed sin-pattern weights) -> "logits" [N,5].
inline void add_test_classifier(onnx::ModelProto& model, const std::string& flat) {
  std::vector<float> fc(40);
  for (size_t i = 0; i < fc.size(); ++i) fc[i] = std::sin(0.9f + 1.3f * static_cast<float>(i));
  add_float_initializer(model, "fc.w", {8, 5}, fc);
  add_float_initializer(model, "fc.b", {5}, {0.1f, -0.2f, 0.3f, 0.0f, -0.1f});
  add_node(model, "Gemm", {flat, "fc.w", "fc.b"}, {"logits"}, "fc");
}

// An inverted-residual block with squeeze-excitation, as MobileNetV3 and
// EfficientNet export it at opset 13, then a classifier:
//   x [N,8,6,6] -> conv 1x1 -> x * HardSigmoid(x) (HardSwish)
//     -> conv 3x3 -> a = y * Sigmoid(y) (SiLU)
//     -> s = Sigmoid(conv(Relu(conv(GlobalAveragePool(a)))))   [N,16,1,1]
//     -> conv 1x1 (a * s) + x -> GlobalAveragePool -> Flatten -> Gemm -> logits [N,5]
inline onnx::ModelProto make_squeeze_excitation_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 8, 6, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "logits", {-1, 5});
  add_pattern_conv(model, "expand", "x", "e", 8, 16, 1, 0.1f);
  auto* gate = add_node(model, "HardSigmoid", {"e"}, {"e_gate"}, "hardswish_gate");
  auto* alpha = gate->add_attribute();
  alpha->set_name("alpha");
  alpha->set_type(onnx::AttributeProto::FLOAT);
  alpha->set_f(1.0f / 6.0f);
  add_node(model, "Mul", {"e", "e_gate"}, {"h"}, "hardswish");
  add_pattern_conv(model, "spatial", "h", "d", 16, 16, 3, 0.2f);
  add_node(model, "Sigmoid", {"d"}, {"d_gate"}, "silu_gate");
  add_node(model, "Mul", {"d", "d_gate"}, {"a"}, "silu");
  add_node(model, "GlobalAveragePool", {"a"}, {"pooled"}, "se_pool");
  add_pattern_conv(model, "se_reduce", "pooled", "r", 16, 4, 1, 0.3f);
  add_node(model, "Relu", {"r"}, {"r_relu"}, "se_relu");
  add_pattern_conv(model, "se_expand", "r_relu", "g", 4, 16, 1, 0.4f);
  add_node(model, "Sigmoid", {"g"}, {"s"}, "se_gate");
  add_node(model, "Mul", {"a", "s"}, {"scaled"}, "se_scale");
  add_pattern_conv(model, "project", "scaled", "p", 16, 8, 1, 0.5f);
  add_node(model, "Add", {"p", "x"}, {"block"}, "residual");
  add_node(model, "GlobalAveragePool", {"block"}, {"features"}, "head_pool");
  add_node(model, "Flatten", {"features"}, {"flat"}, "flatten");
  add_test_classifier(model, "flat");
  return model;
}

inline void add_int_attribute(onnx::NodeProto* node, const std::string& name, int64_t value) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

inline void add_ints_attribute(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

// Branches joined by channel Concats, as GoogLeNet and SqueezeNet build them:
//   x [N,8,8,8] -> s = Relu(conv 3x3)
//     -> Concat(Relu(conv 1x1 s), Relu(conv 3x3 s), Relu(conv 1x1 MaxPool 3x3 s1 (s)))  [N,16,8,8]
//     -> MaxPool 2x2 s2 -> q = Relu(conv 1x1)
//     -> Concat(Relu(conv 1x1 q), Relu(conv 3x3 q))  [N,16,4,4]
//     -> conv 1x1 -> GlobalAveragePool -> Flatten -> Gemm -> logits [N,5]
inline onnx::ModelProto make_concat_branches_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 8, 8, 8});
  add_tensor_value(model.mutable_graph()->mutable_output(), "logits", {-1, 5});
  add_relu_pattern_conv(model, "stem", "x", "s", 8, 8, 3, 0.1f);
  add_relu_pattern_conv(model, "branch_a", "s", "a", 8, 4, 1, 0.2f);
  add_relu_pattern_conv(model, "branch_b", "s", "b", 8, 6, 3, 0.3f);
  auto* pool = add_node(model, "MaxPool", {"s"}, {"s_pool"}, "branch_c_pool");
  add_ints_attribute(pool, "kernel_shape", {3, 3});
  add_ints_attribute(pool, "pads", {1, 1, 1, 1});
  add_relu_pattern_conv(model, "branch_c", "s_pool", "c", 8, 6, 1, 0.4f);
  add_int_attribute(add_node(model, "Concat", {"a", "b", "c"}, {"cat1"}, "cat1"), "axis", 1);
  auto* down = add_node(model, "MaxPool", {"cat1"}, {"m"}, "down");
  add_ints_attribute(down, "kernel_shape", {2, 2});
  add_ints_attribute(down, "strides", {2, 2});
  add_relu_pattern_conv(model, "squeeze", "m", "q", 16, 4, 1, 0.5f);
  add_relu_pattern_conv(model, "expand1", "q", "e1", 4, 8, 1, 0.6f);
  add_relu_pattern_conv(model, "expand3", "q", "e3", 4, 8, 3, 0.7f);
  add_int_attribute(add_node(model, "Concat", {"e1", "e3"}, {"cat2"}, "cat2"), "axis", 1);
  add_pattern_conv(model, "head", "cat2", "h", 16, 8, 1, 0.8f);
  add_node(model, "GlobalAveragePool", {"h"}, {"features"}, "head_pool");
  add_node(model, "Flatten", {"features"}, {"flat"}, "flatten");
  add_test_classifier(model, "flat");
  return model;
}

inline onnx::TensorProto* add_int64_initializer(onnx::ModelProto& model, const std::string& name,
                                                const std::vector<int64_t>& values) {
  auto* init = model.mutable_graph()->add_initializer();
  init->set_name(name);
  init->set_data_type(onnx::TensorProto::INT64);
  init->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) init->add_int64_data(v);
  return init;
}

// A ShuffleNet v2 unit as torchvision exports it with a dynamic batch:
//   x [N,8,6,6] -> s = Relu(conv 1x1)
//     -> Concat(Slice(s, channels 0..4), Relu(conv 3x3 Relu(conv 1x1 Slice(s, channels 4..8))))
//     -> Reshape to [N,2,4,6,6] (N from Shape -> Slice -> Concat) -> Transpose (0,2,1,3,4)
//     -> Reshape to [N,8,6,6] -> conv 1x1 -> ReduceMean over H, W (no keepdims) -> Gemm -> logits [N,5]
inline onnx::ModelProto make_channel_shuffle_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 8, 6, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "logits", {-1, 5});
  add_relu_pattern_conv(model, "stem", "x", "s", 8, 8, 1, 0.1f);
  add_int64_initializer(model, "zero", {0});
  add_int64_initializer(model, "one", {1});
  add_int64_initializer(model, "four", {4});
  add_int64_initializer(model, "eight", {8});
  add_node(model, "Slice", {"s", "zero", "four", "one"}, {"kept"}, "split_kept");
  add_node(model, "Slice", {"s", "four", "eight", "one"}, {"branch"}, "split_branch");
  add_relu_pattern_conv(model, "branch_reduce", "branch", "r", 4, 4, 1, 0.2f);
  add_relu_pattern_conv(model, "branch_spatial", "r", "b", 4, 4, 3, 0.3f);
  add_int_attribute(add_node(model, "Concat", {"kept", "b"}, {"cat"}, "cat"), "axis", 1);
  add_node(model, "Shape", {"cat"}, {"cat_shape"}, "shape");
  add_node(model, "Slice", {"cat_shape", "zero", "one"}, {"batch"}, "batch_dim");
  add_int64_initializer(model, "grouped_tail", {2, 4, 6, 6});
  add_int64_initializer(model, "merged_tail", {8, 6, 6});
  add_int_attribute(add_node(model, "Concat", {"batch", "grouped_tail"}, {"grouped_shape"}, "grouped_shape"), "axis",
                    0);
  add_int_attribute(add_node(model, "Concat", {"batch", "merged_tail"}, {"merged_shape"}, "merged_shape"), "axis", 0);
  add_node(model, "Reshape", {"cat", "grouped_shape"}, {"grouped"}, "group");
  add_ints_attribute(add_node(model, "Transpose", {"grouped"}, {"swapped"}, "swap"), "perm", {0, 2, 1, 3, 4});
  add_node(model, "Reshape", {"swapped", "merged_shape"}, {"shuffled"}, "merge");
  add_pattern_conv(model, "head", "shuffled", "h", 8, 8, 1, 0.8f);
  auto* mean = add_node(model, "ReduceMean", {"h"}, {"flat"}, "head_mean");
  add_ints_attribute(mean, "axes", {2, 3});
  add_int_attribute(mean, "keepdims", 0);
  add_test_classifier(model, "flat");
  return model;
}

// A ConvNeXt block as torchvision exports it at opset 13:
//   x [N,8,6,6] -> c = conv 3x3 -> Transpose (0,2,3,1) -> Relu (standing in
//   for LayerNorm and the MLP) -> Transpose (0,3,1,2) -> Mul by a [8,1,1]
//   layer scale -> + c -> conv 1x1 -> y [N,4,6,6]
inline onnx::ModelProto make_permuted_block_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 8, 6, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 4, 6, 6});
  add_pattern_conv(model, "dw", "x", "c", 8, 8, 3, 0.1f);
  add_ints_attribute(add_node(model, "Transpose", {"c"}, {"t"}, "to_channels_last"), "perm", {0, 2, 3, 1});
  add_node(model, "Relu", {"t"}, {"r"}, "mlp");
  add_ints_attribute(add_node(model, "Transpose", {"r"}, {"back"}, "to_channels_first"), "perm", {0, 3, 1, 2});
  std::vector<float> gamma(8);
  for (size_t i = 0; i < gamma.size(); ++i) gamma[i] = 0.5f + 0.1f * static_cast<float>(i);
  add_float_initializer(model, "gamma", {8, 1, 1}, gamma);
  add_node(model, "Mul", {"gamma", "back"}, {"scaled"}, "layer_scale");
  add_node(model, "Add", {"scaled", "c"}, {"sum"}, "residual");
  add_pattern_conv(model, "head", "sum", "y", 8, 4, 1, 0.2f);
  return model;
}

inline void save_model(const onnx::ModelProto& model, const std::string& path) {
  std::ofstream file(path, std::ios::binary);
  model.SerializeToOstream(&file);
}

}  // namespace kestrel::testing
