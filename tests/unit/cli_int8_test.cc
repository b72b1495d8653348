// kestrel convert --precision int8 from the command line: calibration from
// IDX files and image folders, the int8 model's accuracy, inspect's report,
// and one clear error for each kind of bad calibration input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_images.h"
#include "test_paths.h"
#include "unit/cli_test_util.h"

namespace kestrel::testing {
namespace {

const std::string kCnn = source_path("models/fmnist_cnn.onnx");
const std::string kPreprocess = source_path("models/fmnist_cnn.preprocess.json");

std::string convert_int8(const std::string& output, const std::string& extra) {
  return "convert --model " + kCnn + " --output " + output + " --input-shape input:1,1,28,28 --precision int8 " +
         "--preprocess " + kPreprocess + " " + extra;
}

// An image folder of `count` 28x28 PNGs under `root`.
std::string png_folder(const std::string& root, const std::string& name, int count, int channels = 1) {
  std::string dir = root + "/" + name;
  std::filesystem::create_directories(dir);
  for (int i = 0; i < count; ++i)
    EXPECT_TRUE(write_png(dir + "/img" + std::to_string(i) + ".png", pattern_image(28, 28, channels, i)));
  return dir;
}

TEST(CliInt8, ConvertsEvaluatesAndInspects) {
  KESTREL_REQUIRE_FILE(kCnn);
  KESTREL_REQUIRE_FILE(fashion_mnist_path("train-images-idx3-ubyte.gz"));
  const std::string model = scratch_dir() + "/cnn_int8.kestrel";
  const CliResult converted =
      run_cli(convert_int8(model, "--calibration-data " + fashion_mnist_path("train-images-idx3-ubyte.gz") +
                                      " --calibration-count 256 --calibration-method percentile"));
  ASSERT_EQ(converted.exit_code, 0) << converted.output;
  EXPECT_NE(converted.output.find("quantized 6 convs"), std::string::npos) << converted.output;

  const CliResult inspected = run_cli("inspect --model " + model);
  ASSERT_EQ(inspected.exit_code, 0) << inspected.output;
  EXPECT_NE(inspected.output.find("QFusedConv"), std::string::npos) << inspected.output;
  EXPECT_NE(inspected.output.find("uint8 (0."), std::string::npos) << inspected.output;  // dtype (scale, zero point)
  EXPECT_NE(inspected.output.find("FP32 islands (2 nodes): /pool/GlobalAveragePool /fc/Gemm"), std::string::npos)
      << inspected.output;

  // The first 1000 test images: FP32 scores 94.0 % on them (kestrel eval on
  // the .onnx); int8 must stay within half a point.
  const CliResult evaluated = run_cli(
      "eval --model " + model + " --dataset " + fashion_mnist_path("t10k-images-idx3-ubyte.gz") + " --labels " +
      fashion_mnist_path("t10k-labels-idx1-ubyte.gz") + " --preprocess " + kPreprocess + " --limit 1000 --json");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.output;
  const size_t at = evaluated.output.find("\"top1\":");
  ASSERT_NE(at, std::string::npos) << evaluated.output;
  const double top1 = std::stod(evaluated.output.substr(at + 7));
  EXPECT_GE(top1, 0.935) << evaluated.output;
}

TEST(CliInt8, CalibratesFromAnImageFolder) {
  KESTREL_REQUIRE_FILE(kCnn);
  const std::string root = scratch_dir();
  const std::string folder = png_folder(root, "calib_ok", 20);
  const CliResult converted =
      run_cli(convert_int8(root + "/folder.kestrel", "--calibration-data " + folder + " --calibration-count 20"));
  ASSERT_EQ(converted.exit_code, 0) << converted.output;
  EXPECT_NE(converted.output.find("calibration on 20 images"), std::string::npos) << converted.output;
}

TEST(CliInt8, RunClassifiesImages) {
  KESTREL_REQUIRE_FILE(kCnn);
  const std::string root = scratch_dir();
  const std::string folder = png_folder(root, "images", 2);
  const std::string model = root + "/cnn.kestrel";
  ASSERT_EQ(run_cli(convert_int8(model, "--calibration-data " + folder + " --calibration-count 2 --quiet")).exit_code,
            0);
  const CliResult result =
      run_cli("run --model " + model + " --image " + folder + "/img0.png --preprocess " + kPreprocess +
              " --class-names " + source_path("models/fmnist_classes.txt") + " --top 3");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("img0.png:"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(" ("), std::string::npos) << result.output;  // class names printed
  // Two images make a batch of 2; the file was compiled for 1.
  expect_clean_error(run_cli("run --model " + model + " --image " + folder + "/img0.png --image " + folder +
                             "/img1.png --preprocess " + kPreprocess),
                     {"cnn.kestrel", "[2,1,28,28]"});
  expect_clean_error(run_cli("run --model " + model + " --image " + folder + "/img0.png"),
                     {"--image needs --preprocess"});
}

TEST(CliInt8, BadCalibrationInputsGetOneClearError) {
  KESTREL_REQUIRE_FILE(kCnn);
  const std::string root = scratch_dir();
  const std::string out = root + "/bad.kestrel";
  const std::string empty = root + "/calib_empty";
  std::filesystem::create_directories(empty);
  expect_clean_error(run_cli(convert_int8(out, "--calibration-data " + empty)), {"calib_empty"});
  expect_clean_error(run_cli(convert_int8(out, "--calibration-data " + root + "/no_such_dir")), {"no_such_dir"});

  const std::string few = png_folder(root, "calib_few", 3);
  expect_clean_error(run_cli(convert_int8(out, "--calibration-data " + few + " --calibration-count 5")),
                     {"calib_few", "has 3 images but --calibration-count asks for 5"});

  const std::string broken = png_folder(root, "calib_broken", 4);
  std::ofstream(broken + "/img2.png") << "not a png";
  expect_clean_error(run_cli(convert_int8(out, "--calibration-data " + broken + " --calibration-count 4")),
                     {"img2.png"});

  // RGB images for a one-channel model: the preprocessing spec decides the
  // channels, so a 3-channel spec must not silently feed it.
  const std::string rgb_spec = root + "/rgb.json";
  std::ofstream(rgb_spec) << R"({"color": "rgb", "scale": 0.00392156862745098})";
  const std::string rgb = png_folder(root, "calib_rgb", 4, 3);
  expect_clean_error(run_cli("convert --model " + kCnn + " --output " + out +
                             " --input-shape input:1,1,28,28 --precision int8 --preprocess " + rgb_spec +
                             " --calibration-data " + rgb + " --calibration-count 4"),
                     {"calibration", "input"});

  const std::string config = root + "/quant.json";
  std::ofstream(config) << R"({"overrides": [{"node": "/no/such/Conv", "precision": "fp32"}]})";
  expect_clean_error(
      run_cli(convert_int8(out, "--calibration-data " + few + " --calibration-count 3 --quant-config " + config)),
      {"/no/such/Conv", "matches no node"});

  expect_clean_error(run_cli("convert --model " + kCnn + " --output " + out +
                             " --input-shape input:1,1,28,28 --calibration-data " + few),
                     {"--calibration-data is for --precision int8"});
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace kestrel::testing
