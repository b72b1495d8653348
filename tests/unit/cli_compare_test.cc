// kestrel compare: tensor-by-tensor comparison of two models on the same
// images; a layer planted with a far too narrow range is ranked first.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_paths.h"
#include "unit/cli_test_util.h"

namespace kestrel::testing {
namespace {

const std::string kCnn = source_path("models/fmnist_cnn.onnx");
const std::string kPreprocess = source_path("models/fmnist_cnn.preprocess.json");
constexpr char kPlanted[] = "/stage2/stage2.0/stage2.0.0/Conv";

std::string compare_args(const std::string& reference, const std::string& candidate, const std::string& extra = "") {
  return "compare --reference " + reference + " --candidate " + candidate + " --dataset " +
         fashion_mnist_path("t10k-images-idx3-ubyte.gz") + " --preprocess " + kPreprocess + " " + extra;
}

nlohmann::json compare_json(const std::string& reference, const std::string& candidate, const std::string& dir) {
  const CliOutput result = run_cli_stdout(compare_args(reference, candidate, "--count 8 --json"), dir);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.diagnostics;
  auto json = nlohmann::json::parse(result.out, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << result.out;
  return json;
}

class CliCompare : public ::testing::Test {
 protected:
  void SetUp() override {
    KESTREL_REQUIRE_FILE(kCnn);
    KESTREL_REQUIRE_FILE(fashion_mnist_path("t10k-images-idx3-ubyte.gz"));
    dir_ = scratch_dir();
    fp32_ = dir_ + "/fp32.kestrel";
    ASSERT_EQ(run_cli("convert --quiet --model " + kCnn + " --output " + fp32_).exit_code, 0);
  }
  std::string int8(const std::string& name, const std::string& extra) {
    std::string out = dir_ + "/" + name;
    const CliResult converted =
        run_cli("convert --quiet --model " + kCnn + " --output " + out + " --precision int8 --calibration-data " +
                fashion_mnist_path("train-images-idx3-ubyte.gz") + " --calibration-count 64 --preprocess " +
                kPreprocess + " " + extra);
    EXPECT_EQ(converted.exit_code, 0) << converted.output;
    return out;
  }
  std::string dir_, fp32_;
};

TEST_F(CliCompare, CompiledModelMatchesItsOnnxOnTheReferenceInterpreter) {
  const nlohmann::json json = compare_json(kCnn, fp32_, dir_);
  ASSERT_TRUE(json.contains("tensors"));
  EXPECT_EQ(json["images"].get<int>(), 8);
  // Every conv output, pool and the logits, whatever their layout in the compiled model.
  EXPECT_GE(json["tensors"].size(), 8u);
  for (const auto& t : json["tensors"]) {
    if (t["sqnr_db"].is_null()) continue;  // identical
    EXPECT_GT(t["sqnr_db"].get<double>(), 80.0) << t.dump();
    EXPECT_TRUE(t["saturated"].is_null()) << t.dump();
  }
}

TEST_F(CliCompare, RanksAPlantedNarrowRangeFirst) {
  const std::string config = dir_ + "/planted.json";
  std::ofstream(config) << R"({"overrides": [{"node": ")" << kPlanted
                        << R"(", "calibration_method": "percentile", "percentile": 40}]})";
  const std::string planted = int8("planted.kestrel", "--quant-config " + config);
  const nlohmann::json json = compare_json(fp32_, planted, dir_);
  ASSERT_TRUE(json.contains("tensors") && !json["tensors"].empty());
  const auto& worst = json["tensors"][0];
  EXPECT_EQ(worst["node"], kPlanted) << json.dump(1);
  EXPECT_GT(worst["saturated"].get<double>(), 0.2) << worst.dump();
  // Well apart from the next: its own rounding and clipping, not the network's drift.
  ASSERT_GE(json["tensors"].size(), 2u);
  EXPECT_LT(worst["own_sqnr_db"].get<double>() + 10, json["tensors"][1]["own_sqnr_db"].get<double>()) << json.dump(1);

  // The same conversion without the planted range puts something else first, much better.
  const nlohmann::json normal = compare_json(fp32_, int8("normal.kestrel", ""), dir_);
  EXPECT_GT(normal["tensors"][0]["own_sqnr_db"].get<double>(), worst["own_sqnr_db"].get<double>() + 10);

  const CliResult text = run_cli(compare_args(fp32_, planted, "--count 4 --top 3"));
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("on 4 images: "), std::string::npos) << text.output;
  EXPECT_NE(text.output.find(kPlanted), std::string::npos) << text.output;
}

TEST_F(CliCompare, BadInputsGetOneClearError) {
  const std::string batch2 = dir_ + "/batch2.kestrel";
  ASSERT_EQ(
      run_cli("convert --quiet --model " + kCnn + " --output " + batch2 + " --input-shape input:2,1,28,28").exit_code,
      0);
  expect_clean_error(run_cli(compare_args(fp32_, batch2, "--count 4")), {"the two models take different inputs"});
  expect_clean_error(run_cli(compare_args(fp32_, fp32_, "--offset 9998 --count 4")),
                     {"t10k-images-idx3-ubyte.gz", "has 10000 images but --count asks for 4 from offset 9998"});
  expect_clean_error(run_cli(compare_args(fp32_, dir_ + "/missing.kestrel")), {"missing.kestrel"});
}

}  // namespace
}  // namespace kestrel::testing
