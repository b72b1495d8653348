// Tampered .kestrel files (checksum recomputed) against the runtime: packed
// weights are a keyed cache that never reaches oneDNN as a descriptor,
// every attribute, shape and dtype is checked against the ops, the memory
// plan against liveness and a limit, model paths must be regular files, and
// random tampering never crashes a session (it is refused or runs).
#include <gtest/gtest.h>
#include <onnx/defs/schema.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "frontend/onnx/onnx_importer.h"
#include "kernels/onednn/onednn_kernels.h"
#include "kernels/op_registry.h"
#include "kernels/quantized_conv.h"
#include "kestrel/kestrel.h"
#include "model_file_test_util.h"
#include "runtime/cpu_backend.h"
#include "runtime/graph_checks.h"
#include "runtime/interpreter.h"
#include "runtime/op_attributes.h"
#include "runtime/session.h"
#include "test_paths.h"
#include "test_seed.h"

namespace kestrel::testing {
namespace {

ModelFile load_fmnist(bool int8) {
  auto loaded = load_model_file(converted_fmnist_path(int8));
  KESTREL_CHECK_OK(loaded);
  return std::move(loaded).value();
}

// Every value a converted file holds is read or written by a node, or is a
// graph input or output: the float weights that quantization replaced (and
// any other constant no layer reads) are not written.
TEST(ConvertedFile, HoldsNoUnreferencedValues) {
  for (const bool int8 : {false, true}) {
    SCOPED_TRACE(int8 ? "int8" : "fp32");
    const ModelFile model = load_fmnist(int8);
    std::vector<char> referenced(model.graph.values.size(), 0);
    for (const Node& node : model.graph.nodes) {
      for (ValueId id : node.inputs)
        if (id != kNoValue) referenced[static_cast<size_t>(id)] = 1;
      for (ValueId id : node.outputs) referenced[static_cast<size_t>(id)] = 1;
    }
    for (ValueId id : model.graph.inputs) referenced[static_cast<size_t>(id)] = 1;
    for (ValueId id : model.graph.outputs) referenced[static_cast<size_t>(id)] = 1;
    int64_t float_weight_bytes = 0;
    for (size_t id = 0; id < referenced.size(); ++id) {
      const Value& value = model.graph.values[id];
      EXPECT_TRUE(referenced[id]) << "value #" << id << " '" << value.name << "' is referenced by nothing";
      if (value.constant && value.constant->dtype() == DType::kFloat32 && value.shape.size() == 4) {
        float_weight_bytes += static_cast<int64_t>(value.constant->nbytes());
      }
    }
    // INT8: the convs' weights are int8, so no 4-D float constant is left.
    if (int8) EXPECT_EQ(float_weight_bytes, 0);
    else EXPECT_GT(float_weight_bytes, 0);
  }
}

Node* find_op(Graph& graph, const std::string& op_type) {
  for (Node& node : graph.nodes) {
    if (node.op_type == op_type) return &node;
  }
  return nullptr;
}

// Writes the model (as the converter would, resealed) and loads it back: the
// session then sees what a tampered file gives it.
ModelFile reload(const ModelFile& model, const std::string& dir) {
  const std::string path = dir + "/tampered.kestrel";
  const Status written = write_model_file(path, model);
  if (!written.ok()) throw std::runtime_error(written.message());
  auto loaded = load_model_file(path);
  KESTREL_CHECK_OK(loaded);
  return std::move(loaded).value();
}

StatusOr<std::unique_ptr<Session>> open_session(const ModelFile& model, SessionOptions options = {}) {
  options.pin_threads = false;
  return Session::create(std::make_shared<const Graph>(model.graph), model.plan, options);
}

Tensor digit_input(uint32_t seed) {
  Tensor input(DType::kFloat32, {1, 1, 28, 28});
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int64_t i = 0; i < input.size(); ++i) input.data<float>()[i] = uniform(rng);
  return input;
}

std::vector<float> logits_of(const ModelFile& model, uint32_t seed = 3) {
  auto session = open_session(model);
  KESTREL_CHECK_OK(session);
  auto outputs = (*session)->run({{"input", digit_input(seed)}});
  KESTREL_CHECK_OK(outputs);
  const Tensor& logits = (*outputs)[0];
  return std::vector<float>(logits.data<float>(), logits.data<float>() + logits.size());
}

void expect_refused(const ModelFile& model, const std::vector<std::string>& fragments) {
  auto session = open_session(model);
  ASSERT_FALSE(session.ok()) << "accepted; expected an error with '" << fragments.front() << "'";
  for (const std::string& fragment : fragments) {
    EXPECT_NE(session.status().message().find(fragment), std::string::npos) << session.status().message();
  }
}

// --- 1. packed weights: a keyed cache, never a descriptor ---------------

TEST(PackedWeightsCache, UsedInPlaceOnlyUnderTheLocalKeyElsePackedFromPlainWeights) {
  const onednn::ConvParams params{.batch = 1,
                                  .in_channels = 16,
                                  .in_h = 9,
                                  .in_w = 9,
                                  .out_channels = 32,
                                  .out_h = 9,
                                  .out_w = 9,
                                  .kernel_h = 3,
                                  .kernel_w = 3,
                                  .pad_top = 1,
                                  .pad_left = 1,
                                  .pad_bottom = 1,
                                  .pad_right = 1};
  Tensor weight(DType::kFloat32, {32, 16, 3, 3});
  for (int64_t i = 0; i < weight.size(); ++i)
    weight.data<float>()[i] = static_cast<float>((i * 37) % 23) / 23.0f - 0.5f;
  Tensor src(DType::kFloat32, {1, 9, 9, 16});
  for (int64_t i = 0; i < src.size(); ++i) src.data<float>()[i] = static_cast<float>((i * 13) % 17) / 17.0f - 0.5f;
  auto direct = onednn::ConvPrimitive::create(params, weight, nullptr);
  ASSERT_TRUE(direct.ok()) << direct.status().message();
  Tensor expected(DType::kFloat32, {1, 9, 9, 32});
  ASSERT_TRUE((*direct)->run(src.raw_data(), expected.raw_data()));

  const onednn::PackedWeights packed = (*direct)->packed_weights();
  EXPECT_EQ(packed.key.rfind("onednn ", 0), 0u) << packed.key;
  // A copy with 64-byte alignment, as a mapped file gives it.
  Tensor blob(DType::kUInt8, {static_cast<int64_t>(packed.bytes)});
  std::memcpy(blob.raw_data(), packed.data, packed.bytes);

  struct Case {
    std::string what;
    onednn::PackedWeights cached;
    bool in_place;
  };
  const std::vector<Case> cases = {
      {"same key and size", {blob.raw_data(), blob.nbytes(), packed.key}, true},
      {"other key", {blob.raw_data(), blob.nbytes(), packed.key + "x"}, false},
      {"empty key", {blob.raw_data(), blob.nbytes(), ""}, false},
      {"short blob", {blob.raw_data(), blob.nbytes() - 64, packed.key}, false},
      {"no blob", {nullptr, 0, packed.key}, false},
      // Binary bytes (a raw descriptor, say) in the key are just a string that matches nothing.
      {"binary key", {blob.raw_data(), blob.nbytes(), std::string(64, '\0') + packed.key}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto conv = onednn::ConvPrimitive::create_cached(params, weight, c.cached, nullptr);
    ASSERT_TRUE(conv.ok()) << conv.status().message();
    EXPECT_EQ((*conv)->weights_used_in_place(), c.in_place);
    Tensor actual(DType::kFloat32, {1, 9, 9, 32});
    ASSERT_TRUE((*conv)->run(src.raw_data(), actual.raw_data()));
    EXPECT_EQ(std::memcmp(actual.raw_data(), expected.raw_data(), expected.nbytes()), 0);
  }
}

TEST(PackedWeightsCache, ConvertedModelsKeepPlainWeightsAndStoreOnlyAKey) {
  for (bool int8 : {false, true}) {
    SCOPED_TRACE(int8 ? "int8" : "fp32");
    ModelFile model = load_fmnist(int8);
    int packed = 0;
    for (const Node& node : model.graph.nodes) {
      if (!node.attrs.has(kPackedWeightsAttr)) continue;
      ++packed;
      EXPECT_EQ(node.attrs.get_string(kPackedLayoutAttr, "").rfind("onednn ", 0), 0u) << node.label();
      EXPECT_FALSE(node.attrs.has(kWeightShapeAttr)) << node.label();
      const Value& weight = model.graph.value(node.inputs[1]);
      ASSERT_TRUE(weight.constant.has_value()) << node.label();
      EXPECT_EQ(weight.constant->dtype(), int8 ? DType::kInt8 : DType::kFloat32) << node.label();
      EXPECT_EQ(weight.constant->rank(), 4) << node.label();
    }
    EXPECT_GT(packed, 0);
  }
}

TEST(PackedWeightsCache, TamperedKeysAndBlobsAreRepackedWithTheSameLogits) {
  const std::string dir = scratch_dir();
  for (bool int8 : {false, true}) {
    SCOPED_TRACE(int8 ? "int8" : "fp32");
    const ModelFile good = load_fmnist(int8);
    const std::vector<float> expected = logits_of(good);
    const auto tamper = [&](const std::function<void(Node&)>& edit) {
      ModelFile model = good;
      for (Node& node : model.graph.nodes) {
        if (node.attrs.has(kPackedWeightsAttr)) edit(node);
      }
      return reload(model, dir);
    };
    EXPECT_EQ(logits_of(tamper([](Node& n) { n.attrs.set(kPackedLayoutAttr, std::string("onednn 0.0 x 0")); })),
              expected);
    EXPECT_EQ(logits_of(tamper([](Node& n) { n.attrs.set(kPackedWeightsAttr, Tensor(DType::kUInt8, {128})); })),
              expected);
    EXPECT_EQ(logits_of(tamper([](Node& n) {
                n.attrs.erase(kPackedWeightsAttr);
                n.attrs.erase(kPackedLayoutAttr);
              })),
              expected);
    // A thread count whose kernel wants another layout: still the same numbers.
    auto one_thread = open_session(good, {.threads = 1});
    ASSERT_TRUE(one_thread.ok()) << one_thread.status().message();
    auto outputs = (*one_thread)->run({{"input", digit_input(3)}});
    ASSERT_TRUE(outputs.ok());
    for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR((*outputs)[0].data<float>()[i], expected[i], 1e-4f);
  }
}

// --- 2. every field checked against the graph -----------------------------

TEST(LoadedGraphChecks, AttributesMustBeKnownOfTheRightKindAndInRange) {
  const std::string dir = scratch_dir();
  const ModelFile good = load_fmnist(false);
  {
    ModelFile model = good;
    find_op(model.graph, "FusedGemm")->attrs.set("flatten_axis", int64_t{99});
    expect_refused(reload(model, dir), {"FusedGemm", "flatten_axis 99"});
    find_op(model.graph, "FusedGemm")->attrs.set("flatten_axis", int64_t{-1});
    expect_refused(reload(model, dir), {"FusedGemm", "flatten_axis -1"});
  }
  {
    ModelFile model = good;
    Node* conv = find_op(model.graph, "FusedConv");
    ASSERT_NE(conv, nullptr);
    ASSERT_TRUE(conv->attrs.has("activation"));
    conv->attrs.set("acTivation", conv->attrs.get_string("activation", ""));
    conv->attrs.erase("activation");
    expect_refused(reload(model, dir), {conv->name, "unknown attribute 'acTivation'", "FusedConv takes: "});
  }
  {
    ModelFile model = good;
    find_op(model.graph, "FusedConv")->attrs.set("strides", std::string("2,2"));
    expect_refused(reload(model, dir), {"FusedConv", "attribute 'strides' must be a list of ints"});
  }
  {
    ModelFile model = good;
    find_op(model.graph, "MaxPool")->attrs.set("kernel_shape", std::vector<int64_t>{0, 0});
    expect_refused(reload(model, dir), {"MaxPool"});
  }
}

TEST(LoadedGraphChecks, StoredDtypesAndShapesMustBeWhatTheOpsGive) {
  const std::string dir = scratch_dir();
  const ModelFile good = load_fmnist(false);
  {
    ModelFile model = good;
    model.graph.value(model.graph.outputs[0]).dtype = DType::kFloat64;
    expect_refused(reload(model, dir), {"stored as float64 but the op gives float32"});
  }
  {
    ModelFile model = good;
    Value& first = model.graph.value(model.graph.nodes.front().outputs[0]);
    first.shape[2] -= 1;
    expect_refused(reload(model, dir), {"stored with shape", "the op gives"});
  }
  {
    ModelFile model = good;
    model.graph.value(model.graph.inputs[0]).dtype = DType::kInt32;
    expect_refused(reload(model, dir), {model.graph.nodes.front().name});
  }
}

TEST(LoadedGraphChecks, TheAttributeTableKnowsEveryAttributeConvertedModelsUse) {
  for (bool int8 : {false, true}) {
    for (const Node& node : load_fmnist(int8).graph.nodes)
      EXPECT_TRUE(check_node_attributes(node).ok()) << node.label();
  }
  Node node{.name = "n", .op_type = "NoSuchOp"};
  EXPECT_EQ(check_node_attributes(node).code(), StatusCode::kUnimplemented);
  node = Node{.name = "n", .op_type = "Relu", .domain = "com.other"};
  EXPECT_FALSE(check_node_attributes(node).ok());
}

AttributeKind kind_of(onnx::AttributeProto::AttributeType type) {
  switch (type) {
    case onnx::AttributeProto::INT: return AttributeKind::kInt;
    case onnx::AttributeProto::FLOAT: return AttributeKind::kFloat;
    case onnx::AttributeProto::STRING: return AttributeKind::kString;
    case onnx::AttributeProto::INTS: return AttributeKind::kInts;
    case onnx::AttributeProto::FLOATS: return AttributeKind::kFloats;
    case onnx::AttributeProto::STRINGS: return AttributeKind::kStrings;
    default: return AttributeKind::kTensor;  // TENSOR, SPARSE_TENSOR (Constant)
  }
}

// The table's ONNX entries are exactly ONNX's own attributes over the
// importer's opsets: none missing (a valid model would be refused), none
// invented (a typo would pass).
TEST(LoadedGraphChecks, TheAttributeTableMatchesOnnxSchemas) {
  for (const std::string& op : OpRegistry::global().op_types()) {
    const Node node{.name = "n", .op_type = op};
    const std::vector<AttributeSpec>* specs = op_attributes(node);
    ASSERT_NE(specs, nullptr) << op << " has a kernel but no line in op_attributes.cc";
    std::map<std::string, AttributeKind> onnx_attributes;
    for (int64_t opset = kMinOnnxOpset; opset <= kMaxOnnxOpset; ++opset) {
      const onnx::OpSchema* schema = onnx::OpSchemaRegistry::Schema(op, static_cast<int>(opset), "");
      if (schema == nullptr) continue;
      for (const auto& [name, attribute] : schema->attributes()) onnx_attributes[name] = kind_of(attribute.type);
    }
    if (onnx::OpSchemaRegistry::Schema(op, static_cast<int>(kMaxOnnxOpset), "") == nullptr) continue;  // Kestrel's op
    for (const auto& entry : onnx_attributes) {
      const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture those
      const auto kind = entry.second;
      const auto it =
          std::find_if(specs->begin(), specs->end(), [&](const AttributeSpec& s) { return s.name == name; });
      if (it == specs->end()) {
        ADD_FAILURE() << op << " lacks ONNX attribute " << name;
        continue;
      }
      EXPECT_EQ(it->kind, kind) << op << "." << name;
    }
    for (const AttributeSpec& spec : *specs) {
      const bool packed = spec.name == kPackedWeightsAttr || spec.name == kPackedLayoutAttr;
      EXPECT_TRUE(packed || onnx_attributes.count(spec.name)) << op << "." << spec.name << " is not an ONNX attribute";
    }
  }
}

// --- 3. the memory plan: liveness and a limit ----------------------------

TEST(LoadedGraphChecks, LiveActivationsMustNotShareBytes) {
  const std::string dir = scratch_dir();
  const ModelFile good = load_fmnist(false);
  ASSERT_TRUE(check_memory_plan(good.graph, good.plan, int64_t{1} << 30).ok());
  ModelFile model = good;
  for (int64_t& offset : model.plan.value_offsets) {
    if (offset > 0) offset = 0;
  }
  expect_refused(reload(model, dir), {"memory plan overlaps", "both live at"});

  // A value no longer live may give its bytes to a later one: the planner's plan passes as is.
  ModelFile shifted = good;
  shifted.plan.arena_bytes += 64;
  for (int64_t& offset : shifted.plan.value_offsets) {
    if (offset >= 0) offset += 64;
  }
  EXPECT_EQ(logits_of(reload(shifted, dir)), logits_of(good));
}

TEST(LoadedGraphChecks, ArenaOverTheLimitIsRefused) {
  const ModelFile good = load_fmnist(false);
  auto session = open_session(good, {.max_arena_bytes = 4096});
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("activation arena needs"), std::string::npos) << session.status().message();
  ModelFile huge = good;
  huge.plan.arena_bytes = int64_t{1} << 60;
  expect_refused(reload(huge, scratch_dir()), {"activation arena needs", "limit"});
}

// A residual network's plan shares a fused conv's Sum input with its output:
// the one exception the check allows.
TEST(LoadedGraphChecks, SumInPlaceIsTheOneAllowedOverlap) {
  Graph graph;
  graph.opset = 17;
  const Shape shape = {1, 16, 8, 8};
  const ValueId x = graph.add_value({"x", DType::kFloat32, shape, true, std::nullopt});
  Tensor w(DType::kFloat32, {16, 16, 1, 1});
  for (int64_t i = 0; i < w.size(); ++i) w.data<float>()[i] = static_cast<float>(i % 7) * 0.01f;
  const ValueId wa = graph.add_value({"wa", DType::kFloat32, w.shape(), true, w});
  const ValueId a = graph.add_value({"a", DType::kFloat32, shape, true, std::nullopt, Layout::kNhwc});
  const ValueId b = graph.add_value({"b", DType::kFloat32, shape, true, std::nullopt, Layout::kNhwc});
  const ValueId c = graph.add_value({"c", DType::kFloat32, shape, true, std::nullopt, Layout::kNhwc});
  const ValueId y = graph.add_value({"y", DType::kFloat32, shape, true, std::nullopt});
  graph.inputs = {x};
  graph.outputs = {y};
  Node reorder{.name = "to_nhwc", .op_type = "Reorder", .domain = "kestrel", .inputs = {x}, .outputs = {a}};
  reorder.attrs.set("to", std::string("NHWC"));
  Node conv1{.name = "conv1", .op_type = "FusedConv", .domain = "kestrel", .inputs = {a, wa}, .outputs = {b}};
  Node conv2{
      .name = "conv2", .op_type = "FusedConv", .domain = "kestrel", .inputs = {b, wa, kNoValue, a}, .outputs = {c}};
  Node back{.name = "to_nchw", .op_type = "Reorder", .domain = "kestrel", .inputs = {c}, .outputs = {y}};
  back.attrs.set("to", std::string("NCHW"));
  graph.nodes = {reorder, conv1, conv2, back};
  ASSERT_TRUE(graph.verify().ok());
  const int64_t bytes = shape_size(shape) * 4;
  MemoryPlan plan{.arena_bytes = 2 * bytes, .value_offsets = std::vector<int64_t>(graph.values.size(), -1)};
  plan.value_offsets[static_cast<size_t>(a)] = 0;
  plan.value_offsets[static_cast<size_t>(b)] = bytes;
  plan.value_offsets[static_cast<size_t>(c)] = 0;  // over its Sum input a, read last by conv2
  EXPECT_TRUE(check_memory_plan(graph, plan, int64_t{1} << 30).ok());
  plan.value_offsets[static_cast<size_t>(c)] = bytes;  // over b, conv2's live source
  EXPECT_NE(check_memory_plan(graph, plan, int64_t{1} << 30).message().find("'b'"), std::string::npos);
  // a read after conv2: not its last use, so c may not take its bytes.
  plan.value_offsets[static_cast<size_t>(c)] = 0;
  graph.nodes[3].inputs = {c};
  Node late{.name = "late",
            .op_type = "Relu",
            .inputs = {a},
            .outputs = {graph.add_value({"z", DType::kFloat32, shape, true, std::nullopt, Layout::kNhwc})}};
  graph.nodes.push_back(late);
  plan.value_offsets.push_back(bytes);
  plan.arena_bytes = 3 * bytes;
  EXPECT_FALSE(check_memory_plan(graph, plan, int64_t{1} << 30).ok());
}

// The reference FusedConv under a plan that sums in place (dst over its Sum
// input) must read the Sum input before it writes dst.
TEST(LoadedGraphChecks, ReferenceFusedConvSumsInPlaceCorrectly) {
  Graph graph;
  graph.opset = 17;
  const Shape shape = {1, 4, 5, 5};
  const ValueId x = graph.add_value({"x", DType::kFloat32, shape, true, std::nullopt});
  Tensor w(DType::kFloat32, {4, 4, 1, 1});
  for (int64_t i = 0; i < w.size(); ++i) w.data<float>()[i] = static_cast<float>(i % 5) * 0.25f - 0.5f;
  const ValueId wv = graph.add_value({"w", DType::kFloat32, w.shape(), true, w});
  std::vector<ValueId> v;
  for (const char* name : {"a", "b", "c"})
    v.push_back(graph.add_value({name, DType::kFloat32, shape, true, std::nullopt}));
  const ValueId y = graph.add_value({"y", DType::kFloat32, shape, true, std::nullopt});
  graph.inputs = {x};
  graph.outputs = {y};
  graph.nodes = {
      Node{.name = "conv0", .op_type = "FusedConv", .domain = "kestrel", .inputs = {x, wv}, .outputs = {v[0]}},
      Node{.name = "conv1", .op_type = "FusedConv", .domain = "kestrel", .inputs = {v[0], wv}, .outputs = {v[1]}},
      Node{.name = "conv2",
           .op_type = "FusedConv",
           .domain = "kestrel",
           .inputs = {v[1], wv, kNoValue, v[0]},
           .outputs = {v[2]}},
      Node{.name = "relu", .op_type = "Relu", .inputs = {v[2]}, .outputs = {y}}};
  ASSERT_TRUE(graph.verify().ok());
  const int64_t bytes = shape_size(shape) * 4;
  MemoryPlan plan{.arena_bytes = 2 * bytes, .value_offsets = std::vector<int64_t>(graph.values.size(), -1)};
  plan.value_offsets[static_cast<size_t>(v[0])] = 0;
  plan.value_offsets[static_cast<size_t>(v[1])] = bytes;
  plan.value_offsets[static_cast<size_t>(v[2])] = 0;  // over its Sum input
  auto shared = std::make_shared<const Graph>(graph);
  auto interpreter = Interpreter::create(shared);
  ASSERT_TRUE(interpreter.ok());
  auto session = Session::create(shared, plan, {.pin_threads = false, .use_fast_kernels = false});
  ASSERT_TRUE(session.ok()) << session.status().message();
  Tensor input(DType::kFloat32, shape);
  for (int64_t i = 0; i < input.size(); ++i) input.data<float>()[i] = static_cast<float>(i % 9) - 4.0f;
  auto expected = interpreter->run({{"x", input}});
  auto actual = (*session)->run({{"x", input}});
  ASSERT_TRUE(expected.ok() && actual.ok());
  for (int64_t i = 0; i < input.size(); ++i) {
    ASSERT_FLOAT_EQ((*actual)[0].data<float>()[i], (*expected)[0].data<float>()[i]) << i;
  }
}

// Through the C API (and so Python): the session's refusal starts with the model's path.
TEST(LoadedGraphChecks, CApiSessionErrorsNameTheModelFile) {
  const std::string dir = scratch_dir();
  ModelFile model = load_fmnist(false);
  find_op(model.graph, "FusedGemm")->attrs.set("flatten_axis", int64_t{99});
  const std::string path = dir + "/axis99.kestrel";
  ASSERT_TRUE(write_model_file(path, model).ok());
  kestrel_model_t* loaded = nullptr;
  ASSERT_EQ(kestrel_model_load(path.c_str(), &loaded), KESTREL_OK) << kestrel_last_error();
  kestrel_session_t* session = nullptr;
  EXPECT_EQ(kestrel_session_create(loaded, nullptr, &session), KESTREL_INVALID_ARGUMENT);
  EXPECT_EQ(session, nullptr);
  const std::string error = kestrel_last_error();
  EXPECT_EQ(error.rfind(path + ": ", 0), 0u) << error;
  EXPECT_NE(error.find("flatten_axis 99"), std::string::npos) << error;
  kestrel_model_destroy(loaded);
}

// --- 4. model paths -------------------------------------------------------

TEST(ModelPaths, FifosDevicesAndDirectoriesAreRefusedByName) {
  const std::string dir = scratch_dir();
  ASSERT_EQ(::mkfifo((dir + "/pipe.kestrel").c_str(), 0600), 0);
  auto fifo = load_model_file(dir + "/pipe.kestrel");  // would block forever without O_NONBLOCK
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find(dir + "/pipe.kestrel: is a FIFO"), std::string::npos)
      << fifo.status().message();
  auto zero = load_model_file("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("/dev/zero: is a character device"), std::string::npos)
      << zero.status().message();
  auto directory = load_model_file(dir);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos);
  kestrel_model_t* model = nullptr;
  EXPECT_NE(kestrel_model_load("/dev/zero", &model), KESTREL_OK);
  EXPECT_EQ(model, nullptr);
}

// --- 5. threads -----------------------------------------------------------

TEST(SessionThreads, OneLimitInTheCApiAndTheSession) {
  kestrel_session_options_t* options = nullptr;
  ASSERT_EQ(kestrel_session_options_create(&options), KESTREL_OK);
  EXPECT_NE(kestrel_session_options_set_threads(options, 100000), KESTREL_OK);
  EXPECT_NE(std::string(kestrel_last_error()).find("256"), std::string::npos) << kestrel_last_error();
  EXPECT_EQ(kestrel_session_options_set_threads(options, kMaxSessionThreads), KESTREL_OK);
  kestrel_session_options_destroy(options);
  auto session = open_session(load_fmnist(false), {.threads = 100000});
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.status().message().find("256"), std::string::npos) << session.status().message();
}

// --- random tampering never crashes a session ----------------------------

// One random edit of a field the file stores.
void mutate(ModelFile& model, std::mt19937& rng) {
  Graph& graph = model.graph;
  auto pick = [&](size_t n) { return static_cast<size_t>(std::uniform_int_distribution<size_t>(0, n - 1)(rng)); };
  static const int64_t kInts[] = {-1, 0, 1, 2, 3, 4, 7, 99, -99, int64_t{1} << 40, INT64_MIN, INT64_MAX};
  static const float kFloats[] = {
      0.0f, -1.0f, 1e30f, -1e30f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()};
  switch (pick(6)) {
    case 0: {  // an attribute value
      Node& node = graph.nodes[pick(graph.nodes.size())];
      if (node.attrs.all().empty()) return;
      auto it = node.attrs.all().begin();
      std::advance(it, static_cast<ptrdiff_t>(pick(node.attrs.all().size())));
      const std::string name = it->first;
      AttributeValue value = it->second;
      if (auto* i = std::get_if<int64_t>(&value)) *i = kInts[pick(std::size(kInts))];
      if (auto* f = std::get_if<float>(&value)) *f = kFloats[pick(std::size(kFloats))];
      if (auto* is = std::get_if<std::vector<int64_t>>(&value); is && !is->empty()) {
        (*is)[pick(is->size())] = kInts[pick(std::size(kInts))];
      }
      if (auto* fs = std::get_if<std::vector<float>>(&value); fs && !fs->empty()) {
        (*fs)[pick(fs->size())] = kFloats[pick(std::size(kFloats))];
      }
      if (auto* s = std::get_if<std::string>(&value)) *s = pick(2) ? "" : "NHWC";
      node.attrs.set(name, std::move(value));
      return;
    }
    case 1: {  // a value's dtype
      Value& value = graph.values[pick(graph.values.size())];
      if (value.constant) return;  // the reader refuses those itself
      static const DType kTypes[] = {DType::kFloat32, DType::kInt8,    DType::kUInt8, DType::kInt32,
                                     DType::kInt64,   DType::kFloat64, DType::kBool};
      value.dtype = kTypes[pick(std::size(kTypes))];
      return;
    }
    case 2: {  // a dim of an activation
      Value& value = graph.values[pick(graph.values.size())];
      if (value.constant || value.shape.empty()) return;
      value.shape[pick(value.shape.size())] = std::uniform_int_distribution<int64_t>(0, 40)(rng);
      return;
    }
    case 3: {  // a planned offset
      const size_t v = pick(model.plan.value_offsets.size());
      if (model.plan.value_offsets[v] < 0) return;
      model.plan.value_offsets[v] =
          static_cast<int64_t>(pick(static_cast<size_t>(model.plan.arena_bytes) / 64 + 1)) * 64;
      return;
    }
    case 4: {  // a node input
      Node& node = graph.nodes[pick(graph.nodes.size())];
      if (node.inputs.empty()) return;
      node.inputs[pick(node.inputs.size())] = static_cast<ValueId>(pick(graph.values.size()));
      return;
    }
    default: {  // a layout
      Value& value = graph.values[pick(graph.values.size())];
      value.layout = value.layout == Layout::kNhwc ? Layout::kPlain : Layout::kNhwc;
      return;
    }
  }
}

// Opens a session on a loaded (or refused) tampered model and runs it once
// on zeroed inputs. False when the reader or the session refused the model;
// true when it ran, whatever the run answered (a clean error is an answer:
// only a crash is a failure, and it ends the test).
template <typename Loaded>
bool opened_and_ran(const Loaded& loaded) {
  if (!loaded.ok()) return false;
  auto session = open_session(*loaded, {.threads = 1});
  if (!session.ok()) return false;
  const Value& input = loaded->graph.value(loaded->graph.inputs[0]);
  Tensor zeros(input.dtype, input.shape);
  if (zeros.nbytes() > 0) std::memset(zeros.raw_data(), 0, zeros.nbytes());
  (void)(*session)->run({{input.name, zeros}});
  return true;
}

TEST(LoadedGraphChecks, RandomTamperingIsRefusedOrRunsNeverCrashes) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  const std::string dir = scratch_dir();
  int refused = 0, ran = 0, unwritable = 0;
  for (int round = 0; round < 300; ++round) {
    const bool int8 = round % 2 == 1;
    ModelFile model = load_fmnist(int8);
    const int edits = 1 + round % 3;
    for (int e = 0; e < edits; ++e) mutate(model, rng);
    const std::string path = dir + "/mutated.kestrel";
    if (!write_model_file(path, model).ok()) {
      ++unwritable;  // the writer (its re-read) refuses it: so would the reader
      continue;
    }
    ++(opened_and_ran(load_model_file(path)) ? ran : refused);
  }
  std::printf("[ tampering ] %d refused, %d ran, %d not writable\n", refused, ran, unwritable);
  EXPECT_GT(refused, 0);
}

// Byte damage anywhere in the model section, resealed so that it passes the
// checksum: the reader, the session's checks and the kernels must refuse it
// or run it, never crash.
TEST(LoadedGraphChecks, ResealedByteDamageIsRefusedOrRunsNeverCrashes) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  int refused = 0, ran = 0;
  for (bool int8 : {false, true}) {
    const std::vector<uint8_t> good = read_bytes(converted_fmnist_path(int8));
    const uint64_t model_end = kHeaderSize + read_u64(good, kFlatbufferSizeOffset);
    std::uniform_int_distribution<uint64_t> offset(kHeaderSize, model_end - 1);
    for (int round = 0; round < 200; ++round) {
      std::vector<uint8_t> bytes = good;
      for (int flip = 0; flip < 1 + round % 4; ++flip) bytes[offset(rng)] ^= static_cast<uint8_t>(1 + rng() % 255);
      reseal(bytes);
      ++(opened_and_ran(load_bytes(bytes)) ? ran : refused);
    }
  }
  std::printf("[ byte damage ] %d refused, %d ran\n", refused, ran);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace kestrel::testing
