// Before/after tests of the graph passes: each rewrite must change the graph
// as intended and leave its outputs unchanged (checked with the reference
// interpreter on random inputs, seed printed).
#include <gtest/gtest.h>

#include <random>

#include "frontend/onnx/onnx_importer.h"
#include "onnx_test_models.h"
#include "passes/passes.h"
#include "passes/shape_inference.h"
#include "runtime/interpreter.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

constexpr uint32_t kSeed = 20261126;

std::vector<float> random_values(size_t count, uint32_t seed, float low = -1.0f, float high = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

void add_conv(onnx::ModelProto& model, const std::string& name, const std::string& x, const std::string& y, int64_t cin,
              int64_t cout, int64_t kernel, uint32_t seed) {
  add_float_initializer(model, name + ".w", {cout, cin, kernel, kernel},
                        random_values(static_cast<size_t>(cout * cin * kernel * kernel), seed));
  add_float_initializer(model, name + ".b", {cout}, random_values(static_cast<size_t>(cout), seed + 1));
  auto* node = add_node(model, "Conv", {x, name + ".w", name + ".b"}, {y}, name);
  auto* pads = node->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(kernel / 2);
}

void add_batch_norm(onnx::ModelProto& model, const std::string& name, const std::string& x, const std::string& y,
                    int64_t channels, uint32_t seed) {
  add_float_initializer(model, name + ".scale", {channels},
                        random_values(static_cast<size_t>(channels), seed, 0.5f, 2.0f));
  add_float_initializer(model, name + ".bias", {channels}, random_values(static_cast<size_t>(channels), seed + 1));
  add_float_initializer(model, name + ".mean", {channels}, random_values(static_cast<size_t>(channels), seed + 2));
  add_float_initializer(model, name + ".var", {channels},
                        random_values(static_cast<size_t>(channels), seed + 3, 0.1f, 2.0f));
  add_node(model, "BatchNormalization", {x, name + ".scale", name + ".bias", name + ".mean", name + ".var"}, {y}, name);
}

Graph import_model(const onnx::ModelProto& model) {
  std::string bytes;
  model.SerializeToString(&bytes);
  auto graph = import_onnx_bytes(bytes, ".", "test model");
  EXPECT_TRUE(graph.ok()) << graph.status().message();
  Graph result = std::move(graph).value();
  set_dynamic_dims(result, 2);
  EXPECT_TRUE(infer_shapes(result).ok());
  return result;
}

std::vector<std::string> op_types(const Graph& graph) {
  std::vector<std::string> ops;
  for (const Node& node : graph.nodes) ops.push_back(node.op_type);
  return ops;
}

// Runs both graphs on the same random inputs; outputs must agree.
void expect_same_outputs(const Graph& before, const Graph& after, float tolerance = 1e-4f) {
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::map<std::string, Tensor> inputs;
  uint32_t seed = kSeed;
  for (ValueId id : before.inputs) {
    const Value& value = before.value(id);
    inputs[value.name] =
        Tensor::from_vector<float>(value.shape, random_values(static_cast<size_t>(shape_size(value.shape)), seed++));
  }
  auto run = [&](const Graph& graph) {
    auto interpreter = Interpreter::create(std::make_shared<const Graph>(graph));
    KESTREL_CHECK_OK(interpreter);
    auto outputs = interpreter->run(inputs);
    EXPECT_TRUE(outputs.ok()) << outputs.status().message();
    return std::move(outputs).value();
  };
  const auto expected = run(before);
  const auto actual = run(after);
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_EQ(expected[i].shape(), actual[i].shape());
    for (int64_t k = 0; k < expected[i].size(); ++k) {
      ASSERT_NEAR(expected[i].data<float>()[k], actual[i].data<float>()[k], tolerance) << "output " << i << " at " << k;
    }
  }
}

Graph optimized(const Graph& graph, const std::vector<Pass>& passes) {
  Graph copy = graph;
  const Status status = run_passes(copy, passes, /*verify=*/true);
  EXPECT_TRUE(status.ok()) << status.message();
  return copy;
}

TEST(Passes, IdentityAndDropoutBecomeEdgesAndOutputKeepsItsName) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 4});
  add_node(model, "Relu", {"x"}, {"a"}, "relu");
  add_node(model, "Identity", {"a"}, {"b"}, "identity");
  add_node(model, "Dropout", {"b"}, {"y"}, "dropout");
  const Graph before = import_model(model);
  const Graph after = optimized(before, {{"eliminate_identity", eliminate_identity}});
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"Relu"}));
  EXPECT_EQ(after.value(after.outputs[0]).name, "y");
  expect_same_outputs(before, after);
}

// Pad by zero (DenseNet's exporter writes one before each AveragePool) is
// an edge; a real Pad stays.
TEST(Passes, PadByZeroIsAnEdge) {
  for (int64_t pad : {0, 1}) {
    SCOPED_TRACE("pad " + std::to_string(pad));
    auto model = make_model();
    add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 6, 6});
    add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 3, 3 + pad, 3 + pad});
    auto* pads = model.mutable_graph()->add_initializer();
    pads->set_name("pads");
    pads->set_data_type(onnx::TensorProto::INT64);
    pads->add_dims(8);
    for (int i = 0; i < 8; ++i) pads->add_int64_data(i == 2 || i == 3 || i == 6 || i == 7 ? pad : 0);
    add_node(model, "Pad", {"x", "pads"}, {"padded"}, "pad");
    auto* pool = add_node(model, "AveragePool", {"padded"}, {"y"}, "pool");
    for (const char* name : {"kernel_shape", "strides"}) {
      auto* attr = pool->add_attribute();
      attr->set_name(name);
      attr->set_type(onnx::AttributeProto::INTS);
      attr->add_ints(2);
      attr->add_ints(2);
    }
    const Graph before = import_model(model);
    const Graph after = optimized(before, default_passes());
    const std::vector<std::string> expected =
        pad == 0 ? std::vector<std::string>{"AveragePool"} : std::vector<std::string>{"Pad", "AveragePool"};
    EXPECT_EQ(op_types(after), expected);
    expect_same_outputs(before, after);
  }
}

TEST(Passes, ConstantSubgraphsFoldAndDeadNodesGo) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 3});
  add_float_initializer(model, "c1", {3}, {1, 2, 3});
  add_float_initializer(model, "c2", {3}, {4, 5, 6});
  add_node(model, "Add", {"c1", "c2"}, {"c"}, "add_constants");
  add_node(model, "Mul", {"x", "c"}, {"y"}, "scale");
  add_node(model, "Relu", {"x"}, {"unused"}, "dead_relu");
  const Graph before = import_model(model);
  const Graph after = optimized(before, {{"fold", fold_constants}, {"dead", eliminate_dead_nodes}});
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"Mul"}));
  expect_same_outputs(before, after);
}

TEST(Passes, BatchNormFoldsIntoConvOrBecomesChannelAffine) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 6, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 4, 6, 6});
  add_batch_norm(model, "bn_input", "x", "xn", 3, kSeed);  // standalone: no conv before it
  add_conv(model, "conv", "xn", "c", 3, 4, 3, kSeed + 10);
  add_batch_norm(model, "bn_conv", "c", "y", 4, kSeed + 20);  // folds into conv
  const Graph before = import_model(model);
  const Graph after = optimized(before, {{"fold_batch_norm", fold_batch_norm}});
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"ChannelAffine", "Conv"}));  // 4-D: one channels-last op
  expect_same_outputs(before, after);
}

// DenseNet's BatchNormalization -> Relu after a Concat: one ChannelAffine
// with the Relu fused.
TEST(Passes, ReluAfterAStandaloneBatchNormFusesIntoChannelAffine) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 6, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 4, 6, 6});
  add_batch_norm(model, "bn_input", "x", "xn", 3, kSeed);
  add_node(model, "Relu", {"xn"}, {"r"}, "relu");
  add_conv(model, "conv", "r", "y", 3, 4, 3, kSeed + 10);
  const Graph before = import_model(model);
  const Graph after = optimized(before, default_passes());
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"ChannelAffine", "Conv"}));
  expect_same_outputs(before, after);
}

// GELU as PyTorch writes it out, y = x * (1 + erf(x / sqrt 2)) * 0.5, with
// the Add's and Muls' operands in one order or the other (`swapped`).
void add_gelu(onnx::ModelProto& model, const std::string& x, const std::string& y, bool swapped) {
  add_float_initializer(model, "sqrt2", {}, {1.4142135f});
  add_float_initializer(model, "one", {}, {1.0f});
  add_float_initializer(model, "half", {}, {0.5f});
  auto pair = [&](const std::string& a, const std::string& b) {
    return swapped ? std::vector<std::string>{b, a} : std::vector<std::string>{a, b};
  };
  add_node(model, "Div", {x, "sqrt2"}, {"scaled"}, "gelu_div");
  add_node(model, "Erf", {"scaled"}, {"erf"}, "gelu_erf");
  add_node(model, "Add", pair("one", "erf"), {"gate"}, "gelu_add");
  add_node(model, "Mul", pair(x, "gate"), {"gated"}, "gelu_mul");
  add_node(model, "Mul", pair("gated", "half"), {y}, "gelu_half");
}

// ConvNeXt's MLP: MatMul by a constant [K, N] on [N, H, W, K], then a bias
// Add and GELU written out, becomes one Gemm on [N*H*W, K] (bias and GELU
// fused) between two Reshapes; a 2-D MatMul without bias becomes a Gemm
// alone. Pow(x, 2) becomes x * x.
TEST(Passes, MatMulByConstantWeightsBecomesGemm) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 4, 6});
  add_tensor_value(model.mutable_graph()->mutable_input(), "v", {2, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 3, 4, 5});
  add_tensor_value(model.mutable_graph()->mutable_output(), "z", {2, 5});
  add_float_initializer(model, "w", {6, 5}, random_values(30, kSeed));
  add_float_initializer(model, "b", {5}, random_values(5, kSeed + 1));
  add_float_initializer(model, "two", {}, {2.0f});
  add_node(model, "MatMul", {"x", "w"}, {"xw"}, "linear");
  add_node(model, "Add", {"xw", "b"}, {"xwb"}, "bias");
  add_gelu(model, "xwb", "gelu", false);
  add_node(model, "Pow", {"gelu", "two"}, {"y"}, "square");
  add_node(model, "MatMul", {"v", "w"}, {"z"}, "linear_2d");
  const Graph before = import_model(model);
  const Graph after = optimized(before, default_passes());
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"Reshape", "FusedGemm", "Reshape", "Mul", "FusedGemm"}));
  expect_same_outputs(before, after);
}

// GELU written out after a conv runs in its epilogue.
TEST(Passes, GeluWrittenOutFusesIntoConv) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 6, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 4, 6, 6});
  add_conv(model, "conv", "x", "c", 3, 4, 3, kSeed);
  add_gelu(model, "c", "y", true);
  const Graph before = import_model(model);
  const Graph after = optimized(before, default_passes());
  ASSERT_EQ(op_types(after), (std::vector<std::string>{"FusedConv"}));
  EXPECT_EQ(after.nodes[0].attrs.get_string("activation", ""), "Gelu");
  expect_same_outputs(before, after);
}

// LayerNorm over the last axis as ConvNeXt exports it at opset 13 becomes one
// LayerNormalization.
TEST(Passes, LayerNormWrittenOutBecomesLayerNormalization) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 4, 6});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 3, 4, 6});
  add_float_initializer(model, "two", {}, {2.0f});
  add_float_initializer(model, "eps", {}, {1e-6f});
  add_float_initializer(model, "gamma", {6}, random_values(6, kSeed));
  add_float_initializer(model, "beta", {6}, random_values(6, kSeed + 1));
  auto add_last_axis_mean = [&](const std::string& input, const std::string& output, const std::string& name) {
    auto* axes = add_node(model, "ReduceMean", {input}, {output}, name)->add_attribute();
    axes->set_name("axes");
    axes->set_type(onnx::AttributeProto::INTS);
    axes->add_ints(-1);
  };
  add_last_axis_mean("x", "m", "mean");
  add_node(model, "Sub", {"x", "m"}, {"d"}, "center");
  add_node(model, "Pow", {"d", "two"}, {"sq"}, "square");
  add_last_axis_mean("sq", "v", "var");
  add_node(model, "Add", {"v", "eps"}, {"ve"}, "add_eps");
  add_node(model, "Sqrt", {"ve"}, {"s"}, "std");
  add_node(model, "Div", {"d", "s"}, {"n"}, "normalize");
  add_node(model, "Mul", {"n", "gamma"}, {"g"}, "scale");
  add_node(model, "Add", {"g", "beta"}, {"y"}, "shift");
  const Graph before = import_model(model);
  const Graph after = optimized(before, default_passes());
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"LayerNormalization"}));
  expect_same_outputs(before, after, 1e-5f);
}

TEST(Passes, BatchNormFoldsIntoGemmWithAndWithoutTransB) {
  for (int64_t trans_b : {0, 1}) {
    auto model = make_model();
    add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 6});
    add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 4});
    add_float_initializer(model, "w", trans_b ? std::vector<int64_t>{4, 6} : std::vector<int64_t>{6, 4},
                          random_values(24, kSeed));
    add_float_initializer(model, "c", {4}, random_values(4, kSeed + 1));
    auto* gemm = add_node(model, "Gemm", {"x", "w", "c"}, {"g"}, "fc");
    for (auto [name, value] : {std::pair{"transB", trans_b}}) {
      auto* attr = gemm->add_attribute();
      attr->set_name(name);
      attr->set_type(onnx::AttributeProto::INT);
      attr->set_i(value);
    }
    auto* beta = gemm->add_attribute();
    beta->set_name("beta");
    beta->set_type(onnx::AttributeProto::FLOAT);
    beta->set_f(0.5f);
    add_batch_norm(model, "bn", "g", "y", 4, kSeed + 2);
    const Graph before = import_model(model);
    const Graph after = optimized(before, {{"fold_batch_norm", fold_batch_norm}});
    EXPECT_EQ(op_types(after), (std::vector<std::string>{"Gemm"})) << "transB " << trans_b;
    expect_same_outputs(before, after);
  }
}

TEST(Passes, ResidualAddAndActivationsFuseIntoConv) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 4, 5, 5});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 4, 5, 5});
  add_conv(model, "conv_a", "x", "a", 4, 4, 3, kSeed);
  add_node(model, "Relu", {"a"}, {"a_relu"}, "relu_a");
  add_conv(model, "conv_b", "a_relu", "b", 4, 4, 1, kSeed + 5);
  add_node(model, "Add", {"x", "b"}, {"sum"}, "residual");  // conv output on the right
  add_node(model, "Relu", {"sum"}, {"y"}, "relu_out");
  const Graph before = import_model(model);
  const Graph after = optimized(before, default_passes());
  ASSERT_EQ(op_types(after), (std::vector<std::string>{"FusedConv", "FusedConv"}));
  EXPECT_EQ(after.nodes[0].attrs.get_string("activation", ""), "Relu");
  EXPECT_EQ(after.nodes[1].attrs.get_string("activation", ""), "Relu");
  ASSERT_EQ(after.nodes[1].inputs.size(), 4u);
  EXPECT_EQ(after.value(after.nodes[1].inputs[3]).name, "x");
  EXPECT_EQ(after.value(after.outputs[0]).name, "y");
  expect_same_outputs(before, after);
}

TEST(Passes, ClipSiluAndGemmActivationsFuse) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 4, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 5});
  add_conv(model, "conv1", "x", "c1", 3, 8, 3, kSeed);
  add_float_initializer(model, "zero", {}, {0.0f});
  add_float_initializer(model, "six", {}, {6.0f});
  add_node(model, "Clip", {"c1", "zero", "six"}, {"r6"}, "relu6");
  add_conv(model, "conv2", "r6", "c2", 8, 8, 1, kSeed + 3);
  add_node(model, "Sigmoid", {"c2"}, {"s"}, "sigmoid");
  add_node(model, "Mul", {"c2", "s"}, {"silu"}, "swish");
  add_node(model, "GlobalAveragePool", {"silu"}, {"pooled"}, "gap");
  add_node(model, "Flatten", {"pooled"}, {"flat"}, "flatten");
  add_float_initializer(model, "fc.w", {5, 8}, random_values(40, kSeed + 7));
  add_float_initializer(model, "fc.b", {5}, random_values(5, kSeed + 8));
  auto* gemm = add_node(model, "Gemm", {"flat", "fc.w", "fc.b"}, {"logits"}, "fc");
  auto* trans_b = gemm->add_attribute();
  trans_b->set_name("transB");
  trans_b->set_type(onnx::AttributeProto::INT);
  trans_b->set_i(1);
  add_node(model, "Sigmoid", {"logits"}, {"y"}, "head");
  const Graph before = import_model(model);
  const Graph after = optimized(before, default_passes());
  ASSERT_EQ(op_types(after), (std::vector<std::string>{"FusedConv", "FusedConv", "GlobalAveragePool", "FusedGemm"}));
  EXPECT_EQ(after.nodes[0].attrs.get_string("activation", ""), "Clip");
  EXPECT_EQ(after.nodes[0].attrs.get_float("activation_beta", 0.0f), 6.0f);
  EXPECT_EQ(after.nodes[1].attrs.get_string("activation", ""), "SiLU");
  EXPECT_EQ(after.nodes[3].attrs.get_string("activation", ""), "Sigmoid");
  EXPECT_EQ(after.nodes[3].attrs.get_int("flatten_axis", 0), 1);
  expect_same_outputs(before, after);
}

TEST(Passes, SqueezeExcitationBecomesGatedActivationsAndChannelScale) {
  const Graph before = import_model(make_squeeze_excitation_model());
  const Graph after = optimized(before, default_passes());
  ASSERT_EQ(op_types(after),
            (std::vector<std::string>{"FusedConv", "FusedConv", "GlobalAveragePool", "FusedConv", "FusedConv",
                                      "ChannelScale", "FusedConv", "GlobalAveragePool", "FusedGemm"}));
  EXPECT_EQ(after.nodes[0].attrs.get_string("activation", ""), "HardSwish");  // x * HardSigmoid(x), 1/6 and 1/2
  EXPECT_EQ(after.nodes[1].attrs.get_string("activation", ""), "SiLU");
  EXPECT_EQ(after.nodes[3].attrs.get_string("activation", ""), "Relu");
  EXPECT_EQ(after.nodes[4].attrs.get_string("activation", ""), "Sigmoid");
  // ChannelScale reads the full tensor first, the [N,C,1,1] gate second.
  EXPECT_EQ(after.value(after.nodes[5].inputs[0]).shape, (Shape{2, 16, 6, 6}));
  EXPECT_EQ(after.value(after.nodes[5].inputs[1]).shape, (Shape{2, 16, 1, 1}));
  expect_same_outputs(before, after);
}

TEST(Passes, HardSigmoidWithOtherConstantsIsNotHardSwish) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 3, 4, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 8, 4, 4});
  add_conv(model, "conv", "x", "c", 3, 8, 1, kSeed);
  add_node(model, "HardSigmoid", {"c"}, {"gate"}, "gate");  // ONNX defaults: alpha 0.2, beta 0.5
  add_node(model, "Mul", {"c", "gate"}, {"y"}, "mul");
  const Graph before = import_model(model);
  const Graph after = optimized(before, default_passes());
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"Conv", "HardSigmoid", "Mul"}));
  expect_same_outputs(before, after);
}

TEST(Passes, ActivationIsNotFusedWhenTheConvOutputHasOtherReaders) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 2, 3, 3});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {-1, 2, 3, 3});
  add_conv(model, "conv", "x", "c", 2, 2, 1, kSeed);
  add_node(model, "Relu", {"c"}, {"r"}, "relu");
  add_node(model, "Add", {"c", "r"}, {"y"}, "add");  // reads the pre-activation value too
  const Graph before = import_model(model);
  const Graph after = optimized(before, {{"fuse_activation", fuse_activation}});
  EXPECT_EQ(op_types(after), (std::vector<std::string>{"Conv", "Relu", "Add"}));
  expect_same_outputs(before, after);
}

TEST(Passes, BundledCnnOptimizesToFusedConvsWithTheSameOutputs) {
  const std::string path = source_path("models/fmnist_cnn.onnx");
  KESTREL_REQUIRE_FILE(path);
  auto graph = import_onnx_file(path);
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  Graph before = std::move(graph).value();
  set_dynamic_dims(before, 2);
  Graph after = before;
  ASSERT_TRUE(optimize_graph(after).ok());
  ASSERT_TRUE(infer_shapes(before).ok());
  EXPECT_LT(after.nodes.size(), before.nodes.size());
  for (const Node& node : after.nodes) {
    EXPECT_NE(node.op_type, "Relu") << "unfused Relu " << node.name;
    EXPECT_NE(node.op_type, "BatchNormalization") << node.name;
  }
  expect_same_outputs(before, after);
}

}  // namespace
}  // namespace kestrel::testing
