// Output files: convert and run write atomically and safely, never over an
// input, never two outputs to one file (src/base/safe_write.h, cmd_run.cc).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bad_input_catalogue.h"
#include "cli_test_util.h"
#include "io/npy.h"
#include "onnx_test_models.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

std::string bundled_model() { return source_path("models/fmnist_cnn.onnx"); }

std::string read_all(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

std::string write_input(const std::string& path) {
  Tensor x(DType::kFloat32, {1, 1, 28, 28});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) * 0.1f;
  EXPECT_TRUE(write_npy(path, x).ok());
  return path;
}

// Two outputs whose names become the same file stem.
std::string two_colliding_outputs(const std::string& dir) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y:1", {1, 4});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y_1", {1, 4});
  add_node(model, "Relu", {"x"}, {"y:1"}, "relu");
  add_node(model, "Neg", {"x"}, {"y_1"}, "neg");
  save_model(model, dir + "/two.onnx");
  Tensor x(DType::kFloat32, {1, 4});
  for (int i = 0; i < 4; ++i) x.data<float>()[i] = static_cast<float>(i) - 1.5f;
  EXPECT_TRUE(write_npy(dir + "/x.npy", x).ok());
  return dir + "/two.onnx";
}

KESTREL_BAD_INPUTS({
    {.name = "RunTwoOutputsToOneFile",
     .make =
         [](const std::string& dir) {
           return "run --model " + two_colliding_outputs(dir) + " --input x=" + dir + "/x.npy --output-dir " + dir +
                  "/out";
         },
     .fragments = {"'y:1'", "'y_1'", "y_1.{npy,pb}"},
     .reason = "two outputs must never be written to one file"},
    {.name = "RunOutputOverItsInput",
     .make =
         [](const std::string& dir) {
           return "run --model " + bundled_model() + " --input input=" + write_input(dir + "/logits.npy") +
                  " --output-dir " + dir;
         },
     .fragments = {"'logits'", "logits.npy", "which this run reads"},
     .reason = "an output must never overwrite an input"},
    {.name = "ConvertOutputIsADirectory",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_directory(dir + "/m.kestrel");
           return "convert --model " + bundled_model() + " --output " + dir + "/m.kestrel";
         },
     .fragments = {"m.kestrel", "is a directory"},
     .reason = "the output path names a folder"},
    {.name = "ConvertIntoMissingFolder",
     .make =
         [](const std::string& dir) {
           return "convert --model " + bundled_model() + " --output " + dir + "/no/such/m.kestrel";
         },
     .fragments = {"m.kestrel", "cannot write model file"},
     .reason = "an unwritable output path"},
});

TEST(OutputWrite, ConvertReplacesAPlantedSymlinkWithoutWritingThroughIt) {
  const std::string dir = scratch_dir();
  const std::string victim = dir + "/victim.txt", output = dir + "/m.kestrel";
  std::ofstream(victim) << "precious";
  std::filesystem::create_symlink(victim, output);
  const CliResult result = run_cli("convert --model " + bundled_model() + " --output " + output);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(read_all(victim), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(output));
  EXPECT_GT(std::filesystem::file_size(output), 1000u);
}

TEST(OutputWrite, ConvertKeepsThePrivateModeOfTheModelItReplaces) {
  const std::string output = scratch_dir() + "/m.kestrel";
  ASSERT_EQ(run_cli("convert --model " + bundled_model() + " --output " + output).exit_code, 0);
  ASSERT_EQ(::chmod(output.c_str(), 0600), 0);
  ASSERT_EQ(run_cli("convert --model " + bundled_model() + " --output " + output).exit_code, 0);
  struct stat info {};
  ASSERT_EQ(::stat(output.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
}

TEST(OutputWrite, AFailedConvertLeavesThePreviousModelAndNoTemporaryFile) {
  const std::string dir = scratch_dir(), output = dir + "/m.kestrel";
  ASSERT_EQ(run_cli("convert --model " + bundled_model() + " --output " + output).exit_code, 0);
  const std::string before = read_all(output);
  const CliResult failed =
      run_cli("convert --model " + bundled_model() + " --output " + output + " --input-shape input:1,1,28");
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_EQ(read_all(output), before);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST(OutputWrite, RunWritesEveryOutputOnce) {
  const std::string dir = scratch_dir();
  const CliResult result = run_cli("run --model " + bundled_model() + " --input input=" + write_input(dir + "/x.npy") +
                                   " --output-dir " + dir + "/out");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/out/logits.npy"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/out/logits.pb"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir + "/out"), {}), 2);
}

}  // namespace
}  // namespace kestrel::testing
