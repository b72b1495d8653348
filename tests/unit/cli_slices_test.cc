// Dataset slices from the command line: --calibration-offset with
// --calibration-count, eval's --offset with --limit, and one clear error
// when a slice runs past the dataset's end.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "unit/cli_test_util.h"

namespace kestrel::testing {
namespace {

const std::string kCnn = source_path("models/fmnist_cnn.onnx");
const std::string kPreprocess = source_path("models/fmnist_cnn.preprocess.json");

std::string train() { return fashion_mnist_path("train-images-idx3-ubyte.gz"); }

std::string convert_int8(const std::string& output, const std::string& slice) {
  return "convert --model " + kCnn + " --output " + output + " --precision int8 --preprocess " + kPreprocess +
         " --calibration-data " + train() + " " + slice;
}

TEST(CliSlices, CalibrationOffsetSelectsImagesAndKeysTheCache) {
  KESTREL_REQUIRE_FILE(kCnn);
  KESTREL_REQUIRE_FILE(train());
  const std::string out = scratch_dir() + "/cnn.kestrel";
  const CliResult first = run_cli(convert_int8(out, "--calibration-offset 50000 --calibration-count 8"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("calibration on 8 images from offset 50000"), std::string::npos) << first.output;
  // The same count from another offset is other images: the cache is stale.
  const CliResult moved = run_cli(convert_int8(out, "--calibration-offset 50008 --calibration-count 8"));
  ASSERT_EQ(moved.exit_code, 0) << moved.output;
  EXPECT_NE(moved.output.find("is stale (the calibration images changed)"), std::string::npos) << moved.output;
  expect_clean_error(run_cli(convert_int8(out, "--calibration-offset 59995 --calibration-count 8")),
                     {train(), "has 60000 images but --calibration-count asks for 8 from offset 59995"});
}

TEST(CliSlices, EvalOffsetEvaluatesTheSlice) {
  KESTREL_REQUIRE_FILE(kCnn);
  const std::string test_images = fashion_mnist_path("t10k-images-idx3-ubyte.gz");
  KESTREL_REQUIRE_FILE(test_images);
  const std::string eval = "eval --model " + kCnn + " --dataset " + test_images + " --labels " +
                           fashion_mnist_path("t10k-labels-idx1-ubyte.gz") + " --preprocess " + kPreprocess;
  const std::string dir = scratch_dir();
  const CliOutput slice = run_cli_stdout(eval + " --offset 9990 --limit 10 --json", dir);
  ASSERT_EQ(slice.exit_code, 0) << slice.out << slice.diagnostics;
  const auto json = nlohmann::json::parse(slice.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << slice.out;
  EXPECT_EQ(json["images"].get<int>(), 10);
  // Without --limit: everything from the offset on.
  const CliOutput rest = run_cli_stdout(eval + " --offset 9995 --json", dir);
  ASSERT_EQ(rest.exit_code, 0) << rest.out << rest.diagnostics;
  EXPECT_EQ(nlohmann::json::parse(rest.out)["images"].get<int>(), 5);
  expect_clean_error(run_cli(eval + " --offset 9995 --limit 10"),
                     {test_images, "has 10000 images but --limit asks for 10 from offset 9995"});
  expect_clean_error(run_cli(eval + " --offset 10000"), {test_images, "has 10000 images, none from offset 10000"});
}

}  // namespace
}  // namespace kestrel::testing
