// Variable batch (convert --max-batch N): one model file that runs every
// batch 1..N through the C++ API, the zero-copy path, the CLI and the
// library session, each batch item matching the batch-1 model on that item;
// and the errors: a batch outside 1..N, mixed batches, a model with a fixed
// batch, a model that mixes batch items, a damaged max_batch key.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "convert/converter.h"
#include "format/model_file.h"
#include "kestrel/kestrel.hpp"
#include "runtime/rebatch.h"
#include "unit/api_test_util.h"
#include "unit/cli_test_util.h"
#include "unit/onnx_test_models.h"

namespace kestrel::testing {
namespace {

constexpr int64_t kMaxBatch = 5;
constexpr int64_t kItem = 28 * 28;  // the CNN's input: [N,1,28,28] float32
constexpr int64_t kClasses = 10;

std::string convert_max_batch(const std::string& precision) {
  std::string path = api_model_dir() + "/fmnist_cnn_" + precision + "_b5.kestrel";
  ConvertOptions options{.model = kCnnPath, .output = path, .max_batch = kMaxBatch};
  if (precision == "int8") {
    options.precision = Precision::kInt8;
    options.calibration_data = train_images();
    options.preprocess = kCnnPreprocess;
    options.calibration_count = kCalibrationImages;
  }
  auto report = convert_model(options);
  EXPECT_TRUE(report.ok()) << report.status().message();
  return path;
}

const std::string& max_batch_model(const std::string& precision) {
  static const std::string fp32 = convert_max_batch("fp32");
  static const std::string int8 = convert_max_batch("int8");
  return precision == "int8" ? int8 : fp32;
}

// The logits of `count` images, each run alone on the batch-1 model.
std::vector<float> single_logits(const std::string& precision, const std::vector<std::vector<float>>& images) {
  const api::Model model = api::Model::load(cnn_model(precision));
  api::Session session(model, {.threads = 1});
  std::vector<float> logits;
  for (const auto& image : images) {
    std::vector<float> out(kClasses);
    const int64_t in_dims[] = {1, 1, 28, 28}, out_dims[] = {1, kClasses};
    const api::Tensor inputs[] = {{nullptr, in_dims, image}};
    api::Tensor outputs[] = {{nullptr, out_dims, out}};
    session.run(inputs, outputs);
    logits.insert(logits.end(), out.begin(), out.end());
  }
  return logits;
}

// FP32 batches may take other oneDNN blockings than batch 1 (another
// summation order); INT8 logits are dequantized int8, equal up to one step.
float tolerance(const std::string& precision, const api::Model& model) {
  if (precision != "int8") return 1e-4f;
  const auto quant = model.output(0).quant;
  return quant ? quant->scales[0] * 1.01f : 1e-4f;
}

class MaxBatch : public ::testing::TestWithParam<std::string> {};

TEST_P(MaxBatch, EveryBatchMatchesTheBatchOneModelItemByItem) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  const std::string precision = GetParam();
  const auto images = cnn_inputs(kMaxBatch);
  ASSERT_EQ(images.size(), static_cast<size_t>(kMaxBatch));
  const std::vector<float> expected = single_logits(precision, images);
  const api::Model model = api::Model::load(max_batch_model(precision));
  ASSERT_EQ(model.max_batch(), kMaxBatch);
  EXPECT_EQ(model.input(0).shape, (std::vector<int64_t>{kMaxBatch, 1, 28, 28}));
  EXPECT_EQ(api::Model::load(cnn_model(precision)).max_batch(), 0);
  const float tol = tolerance(precision, model);
  api::Session session(model, {.threads = 1});
  // Each batch twice, in an order that changes the batch at every run.
  for (int64_t batch : {1, 5, 2, 4, 3, 1, 3, 5, 2, 4}) {
    std::vector<float> input, output(static_cast<size_t>(batch * kClasses), NAN);
    for (int64_t i = 0; i < batch; ++i) input.insert(input.end(), images[i].begin(), images[i].end());
    const int64_t in_dims[] = {batch, 1, 28, 28}, out_dims[] = {batch, kClasses};
    const api::Tensor inputs[] = {{nullptr, in_dims, input}};
    api::Tensor outputs[] = {{nullptr, out_dims, output}};
    session.run(inputs, outputs);
    for (int64_t i = 0; i < batch * kClasses; ++i) {
      ASSERT_NEAR(output[i], expected[i], tol) << precision << " batch " << batch << " item " << i / kClasses;
    }
  }
}

TEST_P(MaxBatch, ZeroCopyRunsTheLeadingItemsOfTheSessionBuffers) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  const std::string precision = GetParam();
  const auto images = cnn_inputs(kMaxBatch);
  ASSERT_EQ(images.size(), static_cast<size_t>(kMaxBatch));
  const std::vector<float> expected = single_logits(precision, images);
  const api::Model model = api::Model::load(max_batch_model(precision));
  api::Session session(model, {.threads = 1});
  auto in = session.input_buffer_as<float>(0);
  ASSERT_EQ(in.size(), static_cast<size_t>(kMaxBatch * kItem));
  const auto out = session.output_buffer_as<float>(0);
  for (int64_t i = 0; i < kMaxBatch; ++i) std::memcpy(&in[i * kItem], images[i].data(), kItem * sizeof(float));
  session.run_batch(kMaxBatch);
  for (int64_t i = 0; i < kMaxBatch * kClasses; ++i) ASSERT_NEAR(out[i], expected[i], tolerance(precision, model));
  // Batch 2 on images 4 and 3: the first two results change, the other three stay.
  std::memcpy(&in[0], images[4].data(), kItem * sizeof(float));
  std::memcpy(&in[kItem], images[3].data(), kItem * sizeof(float));
  session.run_batch(2);
  for (int64_t c = 0; c < kClasses; ++c) {
    ASSERT_NEAR(out[c], expected[4 * kClasses + c], tolerance(precision, model));
    ASSERT_NEAR(out[kClasses + c], expected[3 * kClasses + c], tolerance(precision, model));
  }
  for (int64_t i = 2 * kClasses; i < kMaxBatch * kClasses; ++i) {
    ASSERT_NEAR(out[i], expected[i], tolerance(precision, model)) << "written past the batch: " << i;
  }
  EXPECT_THROW(session.run_batch(0), api::Error);
  EXPECT_THROW(session.run_batch(kMaxBatch + 1), api::Error);
}

INSTANTIATE_TEST_SUITE_P(Precisions, MaxBatch, ::testing::Values("fp32", "int8"));

// torch's x.view(x.size(0), -1): x [N,2,2,2] -> conv 1x1 -> Reshape to
// [N, 8], the target from Shape -> Gather -> Unsqueeze -> Concat, which
// conversion folds into the constant [N, 8] -> classifier -> logits [N,5].
onnx::ModelProto make_view_flatten_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {-1, 2, 2, 2});
  add_tensor_value(model.mutable_graph()->mutable_output(), "logits", {-1, 5});
  add_relu_pattern_conv(model, "conv", "x", "c", 2, 2, 1, 0.3f);
  add_node(model, "Shape", {"c"}, {"shape"}, "shape");
  add_int64_initializer(model, "zero", {0});
  add_node(model, "Gather", {"shape", "zero"}, {"n"}, "batch_dim");
  add_int64_initializer(model, "minus_one", {-1});
  add_node(model, "Concat", {"n", "minus_one"}, {"target"}, "target")->add_attribute()->set_name("axis");
  auto* axis = model.mutable_graph()->mutable_node(model.graph().node_size() - 1)->mutable_attribute(0);
  axis->set_type(onnx::AttributeProto::INT);
  axis->set_i(0);
  add_node(model, "Reshape", {"c", "target"}, {"flat"}, "view");
  add_test_classifier(model, "flat");
  return model;
}

// Graphs whose batch-major shapes are constants after conversion: the
// view-flatten's Reshape target; the ShuffleNet unit's Reshape targets
// (Shape -> Slice -> Concat, then a ChannelShuffle); the squeeze-excitation
// block's [N,C,1,1] branches and Flatten.
TEST(MaxBatchArchitectures, FoldedShapeTargetsFollowTheBatch) {
  const std::vector<std::pair<std::string, onnx::ModelProto>> models = {
      {"view_flatten", make_view_flatten_model()},
      {"channel_shuffle", make_channel_shuffle_model()},
      {"squeeze_excitation", make_squeeze_excitation_model()}};
  for (const auto& [name, proto] : models) {
    SCOPED_TRACE(name);
    const std::string onnx_path = api_model_dir() + "/" + name + ".onnx";
    save_model(proto, onnx_path);
    const std::string one = api_model_dir() + "/" + name + "_b1.kestrel";
    const std::string four = api_model_dir() + "/" + name + "_b4.kestrel";
    auto converted = convert_model({.model = onnx_path, .output = one});
    ASSERT_TRUE(converted.ok()) << converted.status().message();
    converted = convert_model({.model = onnx_path, .output = four, .max_batch = 4});
    ASSERT_TRUE(converted.ok()) << converted.status().message();
    const api::Model single = api::Model::load(one), batched = api::Model::load(four);
    ASSERT_EQ(batched.max_batch(), 4);
    const std::vector<int64_t> item_shape = single.input(0).shape;  // [1, C, H, W]
    const size_t item = single.input(0).bytes / sizeof(float), classes = single.output(0).bytes / sizeof(float);
    api::Session single_session(single, {.threads = 1}), batched_session(batched, {.threads = 1});
    for (int64_t batch = 1; batch <= 4; ++batch) {
      std::vector<float> input(item * static_cast<size_t>(batch)), output(classes * static_cast<size_t>(batch));
      for (size_t i = 0; i < input.size(); ++i) input[i] = std::sin(0.37f * static_cast<float>(i) + batch);
      std::vector<int64_t> in_dims = item_shape, out_dims = single.output(0).shape;
      in_dims[0] = out_dims[0] = batch;
      const api::Tensor inputs[] = {{nullptr, in_dims, input}};
      api::Tensor outputs[] = {{nullptr, out_dims, output}};
      batched_session.run(inputs, outputs);
      for (int64_t b = 0; b < batch; ++b) {
        std::vector<float> one_in(input.begin() + b * item, input.begin() + (b + 1) * item), one_out(classes);
        const api::Tensor single_inputs[] = {{nullptr, item_shape, one_in}};
        const std::vector<int64_t> one_out_dims = single.output(0).shape;
        api::Tensor single_outputs[] = {{nullptr, one_out_dims, one_out}};
        single_session.run(single_inputs, single_outputs);
        for (size_t c = 0; c < classes; ++c) {
          ASSERT_NEAR(output[b * classes + c], one_out[c], 1e-4f) << "batch " << batch << " item " << b;
        }
      }
    }
  }
}

TEST(MaxBatchErrors, BatchOutsideTheRangeOrMixedIsAClearError) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  const api::Model model = api::Model::load(max_batch_model("fp32"));
  api::Session session(model, {.threads = 1});
  auto run = [&](int64_t in_batch, int64_t out_batch) -> std::string {
    std::vector<float> input(static_cast<size_t>(std::max<int64_t>(in_batch, 0) * kItem));
    std::vector<float> output(static_cast<size_t>(std::max<int64_t>(out_batch, 0) * kClasses));
    const int64_t in_dims[] = {in_batch, 1, 28, 28}, out_dims[] = {out_batch, kClasses};
    const api::Tensor inputs[] = {{nullptr, in_dims, input}};
    api::Tensor outputs[] = {{nullptr, out_dims, output}};
    try {
      session.run(inputs, outputs);
    } catch (const api::Error& error) {
      return error.what();
    }
    return "";
  };
  EXPECT_NE(run(6, 6).find("in batches of 1 to 5"), std::string::npos) << run(6, 6);
  EXPECT_NE(run(0, 0).find("in batches of 1 to 5"), std::string::npos) << run(0, 0);
  EXPECT_NE(run(2, 3).find("all must have the same batch"), std::string::npos) << run(2, 3);
  EXPECT_EQ(run(2, 2), "");
}

TEST(MaxBatchErrors, ConvertRefusesAFixedBatchAndAModelThatMixesItems) {
  // x [2,2] fixed in the model.
  auto fixed = make_model();
  add_tensor_value(fixed.mutable_graph()->mutable_input(), "x", {2, 2});
  add_tensor_value(fixed.mutable_graph()->mutable_output(), "y", {2, 2});
  add_node(fixed, "Relu", {"x"}, {"y"}, "relu");
  const std::string fixed_path = api_model_dir() + "/fixed_batch.onnx";
  save_model(fixed, fixed_path);
  auto refused = convert_model({.model = fixed_path, .output = api_model_dir() + "/fixed.kestrel", .max_batch = 4});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("input 'x' has batch 2 fixed in the model"), std::string::npos)
      << refused.status().message();

  // x [N,2] -> Reshape [1,-1]: every item lands in one row.
  auto mixing = make_model();
  add_tensor_value(mixing.mutable_graph()->mutable_input(), "x", {-1, 2});
  add_tensor_value(mixing.mutable_graph()->mutable_output(), "y", {1, -1});
  add_int64_initializer(mixing, "target", {1, -1});
  add_node(mixing, "Relu", {"x"}, {"r"}, "relu");
  add_node(mixing, "Reshape", {"r", "target"}, {"y"}, "flatten_batch");
  const std::string mixing_path = api_model_dir() + "/mixing_batch.onnx";
  save_model(mixing, mixing_path);
  auto mixed = convert_model({.model = mixing_path, .output = api_model_dir() + "/mixing.kestrel", .max_batch = 4});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("cannot run batch 1"), std::string::npos) << mixed.status().message();
  EXPECT_NE(mixed.status().message().find("flatten_batch"), std::string::npos) << mixed.status().message();
  // Without --max-batch it converts (at batch 1).
  EXPECT_TRUE(convert_model({.model = mixing_path, .output = api_model_dir() + "/mixing.kestrel"}).ok());
}

TEST(MaxBatchErrors, ADamagedMaxBatchKeyIsRefusedAtLoad) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  for (const std::string& value : {std::string("3"), std::string("five"), std::string("0")}) {
    auto file = load_model_file(max_batch_model("fp32"));
    ASSERT_TRUE(file.ok()) << file.status().message();
    for (auto& [key, text] : file->metadata) {
      if (key == kMaxBatchKey) text = value;
    }
    auto bytes = serialize_model(*file);
    ASSERT_TRUE(bytes.ok()) << bytes.status().message();
    try {
      (void)api::Model::load_buffer(std::as_bytes(std::span(*bytes)));
      ADD_FAILURE() << "max_batch '" << value << "' was accepted";
    } catch (const api::Error& error) {
      EXPECT_NE(std::string(error.what()).find("metadata 'max_batch'"), std::string::npos) << error.what();
    }
  }
}

TEST(MaxBatchErrors, RebatchKeepsTheBatchInsideItsRange) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  auto file = load_model_file(max_batch_model("fp32"));
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(*graph_batch(file->graph), kMaxBatch);
  for (int64_t batch : {int64_t{0}, int64_t{-1}, kMaxBatch + 1}) {
    auto rebatched = rebatch_graph(file->graph, batch);
    ASSERT_FALSE(rebatched.ok()) << batch;
    EXPECT_NE(rebatched.status().message().find("outside 1..5"), std::string::npos) << rebatched.status().message();
  }
  auto two = rebatch_graph(file->graph, 2);
  ASSERT_TRUE(two.ok()) << two.status().message();
  for (ValueId id : two->outputs) EXPECT_EQ(two->value(id).shape[0], 2);
  // The file's plan is the batch-1 plan times 5, so batch 2 gets exactly 2/5 of it.
  const MemoryPlan plan = rebatched_plan(file->plan, *two, kMaxBatch, 2);
  ASSERT_GT(file->plan.arena_bytes, 0);
  EXPECT_EQ(file->plan.arena_bytes % kMaxBatch, 0);
  EXPECT_EQ(plan.arena_bytes, file->plan.arena_bytes / kMaxBatch * 2);
  ASSERT_EQ(plan.value_offsets.size(), two->values.size());
  for (size_t v = 0; v < file->plan.value_offsets.size(); ++v) {
    const int64_t offset = file->plan.value_offsets[v];
    EXPECT_EQ(plan.value_offsets[v], offset < 0 ? offset : offset / kMaxBatch * 2) << v;
  }
}

TEST(MaxBatchCli, BenchAndRunTakeAnyBatchUpToTheMaximum) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  const std::string model = max_batch_model("int8");
  for (int batch : {1, 3, 5}) {
    const CliResult bench =
        run_cli("bench --model " + model + " --batch " + std::to_string(batch) + " --iterations 3 --warmup 1");
    EXPECT_EQ(bench.exit_code, 0) << bench.output;
  }
  expect_clean_error(run_cli("bench --model " + model + " --batch 6 --iterations 1"),
                     {"runs batches of 1 to 5, asked for 6", "--max-batch"});
  expect_clean_error(run_cli("bench --model " + cnn_model("int8") + " --batch 2 --iterations 1"),
                     {"compiled for batch 1, asked for 2", "--max-batch"});
  expect_clean_error(run_cli("convert --model " + kCnnPath + " --output " + api_model_dir() +
                             "/x.kestrel --max-batch 4 --input-shape input:2,1,28,28"),
                     {"--max-batch 4", "has batch 2 in --input-shape"});
}

}  // namespace
}  // namespace kestrel::testing
