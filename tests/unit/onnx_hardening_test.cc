// The ONNX importer and shape arithmetic under hostile sizes: what the
// bad-input catalogue (bad_inputs_onnx.cc) cannot see from the CLI: the
// planner's own overflow checks, the arena limit's default, and calibration
// of a fixed-batch export.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "cli_test_util.h"
#include "frontend/onnx/onnx_importer.h"
#include "onnx_test_models.h"
#include "passes/shape_inference.h"
#include "planner/arena_limit.h"
#include "planner/memory_planner.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

// A graph output whose shape Kestrel infers (ONNX's checker wants a shape field).
void add_any_output(onnx::ModelProto& model, const std::string& name) {
  add_tensor_value(model.mutable_graph()->mutable_output(), name, {});
  model.mutable_graph()->mutable_output()->rbegin()->mutable_type()->mutable_tensor_type()->mutable_shape();
}

StatusOr<Graph> import_and_infer(const onnx::ModelProto& model, const std::string& dir = ".") {
  KESTREL_ASSIGN_OR_RETURN(Graph graph, import_onnx_bytes(model.SerializeAsString(), dir, "m.onnx"));
  set_dynamic_dims(graph, 1);
  KESTREL_RETURN_IF_ERROR(infer_shapes(graph));
  return graph;
}

// x -> Relu -> t -> Relu -> y, so `t` is in the arena.
onnx::ModelProto relu_chain(const std::vector<int64_t>& shape) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", shape);
  add_any_output(model, "y");
  add_node(model, "Relu", {"x"}, {"t"}, "relu1");
  add_node(model, "Relu", {"t"}, {"y"}, "relu2");
  return model;
}

TEST(OnnxHardening, DefaultArenaLimitIsHalfThePhysicalMemory) {
  const int64_t physical = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  EXPECT_EQ(default_max_arena_bytes(), physical / 2);
  EXPECT_TRUE(check_arena_limit(100, 100, "--max-arena-bytes").ok());
  const Status over = check_arena_limit(101, 100, "--max-arena-bytes");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.message().find("needs 101 bytes"), std::string::npos) << over.message();
  EXPECT_NE(over.message().find("limit of 100 bytes"), std::string::npos) << over.message();
  EXPECT_NE(over.message().find("--max-arena-bytes"), std::string::npos) << over.message();
}

TEST(OnnxHardening, PlannerRefusesValuesBeyondItsRange) {
  // 2^60 floats: 2^62 bytes fit int64 (shape inference accepts them), but
  // an offset plus such a size could not be added safely.
  auto graph = import_and_infer(relu_chain({1, 1, int64_t{1} << 30, int64_t{1} << 30}));
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  auto plan = plan_memory(*graph);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("value 't'"), std::string::npos) << plan.status().message();
  EXPECT_EQ(total_activation_bytes(*graph), INT64_MAX);
}

TEST(OnnxHardening, PlannerSizesLargeButValidArenas) {
  auto graph = import_and_infer(relu_chain({1, 1, 100000, 100000}));
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  auto plan = plan_memory(*graph);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->arena_bytes, int64_t{40000000000});
}

TEST(OnnxHardening, InputShapesAreOverflowChecked) {
  EXPECT_TRUE(parse_input_shapes("x:1,3,224,224").ok());
  EXPECT_TRUE(parse_input_shapes("x:1,1,100000,100000").ok());
  for (const char* spec : {"x:1,3,4294967296,4294967296", "x:1,3,3037000500,3037000500", "x:2305843009213693952,8"}) {
    auto shapes = parse_input_shapes(spec);
    ASSERT_FALSE(shapes.ok()) << spec;
    EXPECT_NE(shapes.status().message().find("64-bit"), std::string::npos) << shapes.status().message();
  }
}

TEST(OnnxHardening, PoolWindowArithmeticIsChecked) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 1, 4, 4});
  add_any_output(model, "y");
  auto* pool = add_node(model, "MaxPool", {"x"}, {"y"}, "pool");
  auto* kernel = pool->add_attribute();
  kernel->set_name("kernel_shape");
  kernel->set_type(onnx::AttributeProto::INTS);
  kernel->add_ints(2);
  kernel->add_ints(2);
  auto* dilations = pool->add_attribute();
  dilations->set_name("dilations");
  dilations->set_type(onnx::AttributeProto::INTS);
  dilations->add_ints(INT64_MAX);
  dilations->add_ints(1);
  auto graph = import_and_infer(model);
  ASSERT_FALSE(graph.ok());
  EXPECT_NE(graph.status().message().find("node 'pool'"), std::string::npos) << graph.status().message();
  EXPECT_NE(graph.status().message().find("64-bit"), std::string::npos) << graph.status().message();
}

TEST(OnnxHardening, RangeCountIsChecked) {
  auto model = make_model();
  add_any_output(model, "y");
  add_float_initializer(model, "start", {}, {0.0f});
  add_float_initializer(model, "limit", {}, {1e30f});
  add_float_initializer(model, "delta", {}, {1.0f});
  add_node(model, "Range", {"start", "limit", "delta"}, {"y"}, "range");
  auto graph = import_and_infer(model);
  ASSERT_FALSE(graph.ok());
  EXPECT_NE(graph.status().message().find("node 'range'"), std::string::npos) << graph.status().message();
  EXPECT_NE(graph.status().message().find("64-bit"), std::string::npos) << graph.status().message();
}

TEST(OnnxHardening, ExternalDataThroughASymlinkInsideTheFolderIsRead) {
  const std::string dir = scratch_dir();
  std::filesystem::create_directories(dir + "/data");
  const float values[2] = {1.5f, -2.0f};
  std::ofstream(dir + "/data/w.bin", std::ios::binary).write(reinterpret_cast<const char*>(values), sizeof(values));
  std::filesystem::create_symlink("data/w.bin", dir + "/w.bin");
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {2});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {2});
  add_node(model, "Add", {"x", "w"}, {"y"}, "add");
  auto* w = add_float_initializer(model, "w", {2}, {});
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* location = w->add_external_data();
  location->set_key("location");
  location->set_value("w.bin");
  auto graph = import_onnx_bytes(model.SerializeAsString(), dir, "m.onnx");
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  const Value& value = graph->value(graph->find_value("w"));
  ASSERT_TRUE(value.constant.has_value());
  EXPECT_EQ(value.constant->data<float>()[0], 1.5f);
  EXPECT_EQ(value.constant->data<float>()[1], -2.0f);
}

// torch.onnx.export without dynamic_axes fixes the batch at 1: INT8
// calibration runs at that batch instead of refusing the default 16.
onnx::ModelProto fixed_batch_conv_relu() {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 1, 28, 28});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {1, 4, 26, 26});
  std::vector<float> weights(4 * 9);
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.1f;
  add_float_initializer(model, "w", {4, 1, 3, 3}, weights);
  add_float_initializer(model, "b", {4}, {0.1f, -0.1f, 0.2f, 0.0f});
  add_node(model, "Conv", {"x", "w", "b"}, {"t"}, "conv");
  add_node(model, "Relu", {"t"}, {"y"}, "relu");
  return model;
}

TEST(OnnxHardening, FixedBatchModelCalibratesAtItsBatch) {
  const std::string dir = scratch_dir();
  save_model(fixed_batch_conv_relu(), dir + "/fixed.onnx");
  const std::string calibration = " --precision int8 --calibration-data " +
                                  fashion_mnist_path("train-images-idx3-ubyte.gz") + " --calibration-count 32" +
                                  " --preprocess " + source_path("models/fmnist_cnn.preprocess.json");
  const CliResult converted =
      run_cli("convert --model " + dir + "/fixed.onnx --output " + dir + "/fixed.kestrel" + calibration);
  EXPECT_EQ(converted.exit_code, 0) << converted.output;
  EXPECT_TRUE(std::filesystem::exists(dir + "/fixed.kestrel"));

  const CliResult explicit_one = run_cli("convert --model " + dir + "/fixed.onnx --output " + dir + "/one.kestrel" +
                                         calibration + " --calibration-batch 1 --quiet");
  EXPECT_EQ(explicit_one.exit_code, 0) << explicit_one.output;

  const CliResult contradicting = run_cli("convert --model " + dir + "/fixed.onnx --output " + dir + "/bad.kestrel" +
                                          calibration + " --calibration-batch 16");
  expect_clean_error(contradicting, {"fixed.onnx", "--calibration-batch 16", "input 'x'", "fixed batch 1"});
}

TEST(OnnxHardening, FixedBatchLargerThanTheCalibrationCountIsAClearError) {
  const std::string dir = scratch_dir();
  auto model = fixed_batch_conv_relu();
  model.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_value(8);
  save_model(model, dir + "/fixed8.onnx");
  const CliResult result =
      run_cli("convert --model " + dir + "/fixed8.onnx --output " + dir + "/o.kestrel" +
              " --precision int8 --calibration-data " + fashion_mnist_path("train-images-idx3-ubyte.gz") +
              " --calibration-count 4" + " --preprocess " + source_path("models/fmnist_cnn.preprocess.json"));
  expect_clean_error(result, {"fixed8.onnx", "--calibration-count 4", "fixed batch 8", "input 'x'"});
}

TEST(OnnxHardening, ConvertHelpDocumentsTheArenaLimit) {
  const CliResult help = run_cli("convert --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--max-arena-bytes"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("half of this machine's physical memory"), std::string::npos) << help.output;
}

}  // namespace
}  // namespace kestrel::testing
