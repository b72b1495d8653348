// Bad input through the CLI: every case ends with one clear error line that
// names the file, node or tensor, and exit code 1, never a crash.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli_test_util.h"
#include "io/npy.h"
#include "onnx_test_models.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

TEST(Cli, MissingModelFile) {
  const std::string dir = scratch_dir();
  expect_clean_error(run_cli("inspect --model " + dir + "/absent.onnx"), {"absent.onnx", "cannot open"});
}

TEST(Cli, FileThatIsNotOnnx) {
  const std::string path = scratch_dir() + "/text.onnx";
  std::ofstream(path) << "this is plain text, not a protobuf\n";
  expect_clean_error(run_cli("inspect --model " + path), {"text.onnx", "not an ONNX model"});
}

TEST(Cli, TruncatedProtobuf) {
  const std::string dir = scratch_dir();
  auto model = make_relu_model();
  add_float_initializer(model, "unused", {64}, std::vector<float>(64, 1.0f));
  std::string bytes;
  model.SerializeToString(&bytes);
  std::ofstream(dir + "/cut.onnx", std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 40));
  expect_clean_error(run_cli("inspect --model " + dir + "/cut.onnx"), {"cut.onnx", "not an ONNX model"});
}

TEST(Cli, ListsEveryUnsupportedOpWithNodeNames) {
  const std::string dir = scratch_dir();
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "z", {1, 4});
  add_node(model, "Relu", {"x"}, {"a"}, "ok_relu");
  add_node(model, "Hardmax", {"a"}, {"b"}, "first_bad");
  add_node(model, "Softsign", {"b"}, {"z"}, "second_bad");
  save_model(model, dir + "/unsupported.onnx");
  expect_clean_error(
      run_cli("inspect --model " + dir + "/unsupported.onnx"),
      {"unsupported.onnx", "2 nodes use unsupported op", "'first_bad' (Hardmax)", "'second_bad' (Softsign)"});
}

TEST(Cli, MissingInitializer) {
  const std::string dir = scratch_dir();
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {1, 4});
  add_node(model, "Add", {"x", "bias"}, {"y"}, "add_bias");
  save_model(model, dir + "/no_init.onnx");
  expect_clean_error(run_cli("inspect --model " + dir + "/no_init.onnx"),
                     {"no_init.onnx", "node 'add_bias' (Add)", "input 'bias'"});
}

TEST(Cli, InputShapeThatContradictsTheModel) {
  const std::string dir = scratch_dir();
  save_model(make_relu_model(), dir + "/relu.onnx");
  expect_clean_error(run_cli("inspect --model " + dir + "/relu.onnx --input-shape x:4,3"),
                     {"input 'x'", "[4,3]", "contradicts"});
  expect_clean_error(run_cli("inspect --model " + dir + "/relu.onnx --input-shape nope:4,2"),
                     {"'nope'", "not a model input"});
  expect_clean_error(run_cli("inspect --model " + dir + "/relu.onnx --input-shape x:4,zero"), {"'zero'"});
}

TEST(Cli, NpyOfWrongDtypeOrShape) {
  const std::string dir = scratch_dir();
  save_model(make_relu_model(), dir + "/relu.onnx");
  ASSERT_TRUE(write_npy(dir + "/int.npy", Tensor(DType::kInt32, {3, 2})).ok());
  ASSERT_TRUE(write_npy(dir + "/wide.npy", Tensor(DType::kFloat32, {3, 5})).ok());
  const std::string run = "run --model " + dir + "/relu.onnx --output-dir " + dir + "/out --input x=";
  expect_clean_error(run_cli(run + dir + "/int.npy"), {"input 'x'", "expected float32", "got int32"});
  expect_clean_error(run_cli(run + dir + "/wide.npy"), {"input 'x'", "[3,5]"});
  std::ofstream(dir + "/junk.npy") << "junk";
  expect_clean_error(run_cli(run + dir + "/junk.npy"), {"junk.npy", "not a .npy file"});
}

TEST(Cli, RunWritesNpyAndPbOutputs) {
  const std::string dir = scratch_dir();
  save_model(make_relu_model(), dir + "/relu.onnx");
  ASSERT_TRUE(write_npy(dir + "/x.npy", Tensor::from_vector<float>({2, 2}, {-1.0f, 2.0f, 3.0f, -4.0f})).ok());
  const auto result =
      run_cli("run --model " + dir + "/relu.onnx --input x=" + dir + "/x.npy --output-dir " + dir + "/out");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto y = read_npy(dir + "/out/y.npy");
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->shape(), (Shape{2, 2}));
  EXPECT_EQ(std::vector<float>(y->data<float>(), y->data<float>() + 4), (std::vector<float>{0, 2, 3, 0}));
  EXPECT_TRUE(std::filesystem::exists(dir + "/out/y.pb"));
  // The .pb output is a valid input too: feed it back.
  const auto again =
      run_cli("run --model " + dir + "/relu.onnx --input " + dir + "/out/y.pb --output-dir " + dir + "/out2");
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

TEST(Cli, UnknownFlagIsAnError) {
  const auto result = run_cli("inspect --model x.onnx --no-such-flag");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("--no-such-flag"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace kestrel::testing

namespace kestrel::testing {
namespace {

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  Tensor tensor(DType::kFloat32, shape);
  uint32_t state = seed;
  for (int64_t i = 0; i < tensor.size(); ++i) {
    state = state * 1664525u + 1013904223u;
    tensor.data<float>()[i] = static_cast<float>(state >> 8) / 16777216.0f * 2.0f - 1.0f;
  }
  return tensor;
}

TEST(Cli, ConvertThenRunMatchesTheReferenceInterpreter) {
  const std::string dir = scratch_dir();
  const std::string model = source_path("models/fmnist_cnn.onnx");
  KESTREL_REQUIRE_FILE(model);
  ASSERT_TRUE(write_npy(dir + "/x.npy", random_tensor({3, 1, 28, 28}, 11)).ok());
  const auto converted =
      run_cli("convert --model " + model + " --output " + dir + "/cnn.kestrel --input-shape input:3,1,28,28");
  ASSERT_EQ(converted.exit_code, 0) << converted.output;
  const auto fast =
      run_cli("run --model " + dir + "/cnn.kestrel --input " + dir + "/x.npy --output-dir " + dir + "/fast");
  ASSERT_EQ(fast.exit_code, 0) << fast.output;
  const auto reference =
      run_cli("run --reference --model " + model + " --input " + dir + "/x.npy --output-dir " + dir + "/ref");
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  auto a = read_npy(dir + "/fast/logits.npy");
  auto b = read_npy(dir + "/ref/logits.npy");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->shape(), (Shape{3, 10}));
  ASSERT_EQ(a->shape(), b->shape());
  for (int64_t i = 0; i < a->size(); ++i) EXPECT_NEAR(a->data<float>()[i], b->data<float>()[i], 1e-4f) << i;

  // The file runs at the shape it was compiled for, and says so otherwise.
  ASSERT_TRUE(write_npy(dir + "/x5.npy", random_tensor({5, 1, 28, 28}, 12)).ok());
  expect_clean_error(
      run_cli("run --model " + dir + "/cnn.kestrel --input " + dir + "/x5.npy --output-dir " + dir + "/o"),
      {"cnn.kestrel", "[3,1,28,28]", "[5,1,28,28]"});
  expect_clean_error(run_cli("bench --model " + dir + "/cnn.kestrel --batch 4 --iterations 1"),
                     {"cnn.kestrel", "compiled for batch 3"});
}

TEST(Cli, ConvertRejectsBadRequestsClearly) {
  const std::string dir = scratch_dir();
  save_model(make_relu_model(), dir + "/relu.onnx");
  expect_clean_error(run_cli("convert --model " + dir + "/relu.onnx --output " + dir + "/out.bin"),
                     {"out.bin", "must end in .kestrel"});
  expect_clean_error(run_cli("convert --model " + dir + "/relu.onnx --output " + dir +
                             "/o.kestrel --input-shape x:1,2 --precision int8"),
                     {"relu.onnx", "--precision int8 needs --calibration-data"});
  std::ofstream(dir + "/fake.kestrel") << "not a model";
  expect_clean_error(run_cli("inspect --model " + dir + "/fake.kestrel"), {"fake.kestrel"});
}

}  // namespace
}  // namespace kestrel::testing
