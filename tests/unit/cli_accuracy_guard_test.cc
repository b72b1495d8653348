// kestrel convert --max-accuracy-drop: a layer planted with a far too
// narrow range is the one (and only one) moved back to FP32; the written
// quant config reproduces the model; a budget met without moves moves
// nothing; bad validation settings get one clear line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_paths.h"
#include "unit/cli_test_util.h"

namespace kestrel::testing {
namespace {

const std::string kCnn = source_path("models/fmnist_cnn.onnx");
const std::string kPreprocess = source_path("models/fmnist_cnn.preprocess.json");
constexpr char kPlanted[] = "/stage2/stage2.0/stage2.0.0/Conv";

std::string train(const std::string& file) { return fashion_mnist_path(file); }

class CliAccuracyGuard : public ::testing::Test {
 protected:
  void SetUp() override {
    KESTREL_REQUIRE_FILE(kCnn);
    KESTREL_REQUIRE_FILE(train("train-images-idx3-ubyte.gz"));
    dir_ = scratch_dir();
  }
  std::string write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // convert to int8, calibrated on training images 0..255, with `extra`.
  std::string convert_args(const std::string& output, const std::string& extra) {
    return "convert --model " + kCnn + " --output " + dir_ + "/" + output +
           " --precision int8 --calibration-count 256 --error-report 0 --calibration-data " +
           train("train-images-idx3-ubyte.gz") + " --preprocess " + kPreprocess + " " + extra;
  }
  std::string guard_args(double budget, int64_t offset = 50000, int64_t count = 500) {
    return "--max-accuracy-drop " + std::to_string(budget) + " --validation-data " +
           train("train-images-idx3-ubyte.gz") + " --validation-labels " + train("train-labels-idx1-ubyte.gz") +
           " --validation-offset " + std::to_string(offset) + " --validation-count " + std::to_string(count);
  }
  std::string planted_config() {
    return write("planted.json", std::string(R"({"overrides": [{"node": ")") + kPlanted +
                                     R"(", "calibration_method": "percentile", "percentile": 40}]})");
  }
  double top1(const std::string& model, int64_t offset, int64_t count) {
    const CliOutput out =
        run_cli_stdout("eval --model " + model + " --dataset " + train("train-images-idx3-ubyte.gz") + " --labels " +
                           train("train-labels-idx1-ubyte.gz") + " --preprocess " + kPreprocess + " --offset " +
                           std::to_string(offset) + " --limit " + std::to_string(count) + " --json",
                       dir_);
    EXPECT_EQ(out.exit_code, 0) << out.diagnostics;
    const auto json = nlohmann::json::parse(out.out, nullptr, false);
    return json.is_discarded() ? -1.0 : json["top1"].get<double>();
  }
  nlohmann::json read_json(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return nlohmann::json::parse(text.str(), nullptr, false);
  }
  // The nodes a quant config sends to FP32.
  static std::vector<std::string> float_nodes(const nlohmann::json& config) {
    std::vector<std::string> nodes;
    for (const auto& entry : config["overrides"]) {
      if (entry.value("precision", "") == "fp32") nodes.push_back(entry["node"].get<std::string>());
    }
    return nodes;
  }
  std::string dir_;
};

TEST_F(CliAccuracyGuard, MovesThePlantedLayerAndOnlyItBackToFp32) {
  const std::string config = planted_config();
  // Without the guard, the planted layer ruins the model.
  ASSERT_EQ(run_cli(convert_args("planted.kestrel", "--quiet --quant-config " + config)).exit_code, 0);
  ASSERT_EQ(run_cli("convert --quiet --model " + kCnn + " --output " + dir_ + "/fp32.kestrel").exit_code, 0);
  const double fp32 = top1(dir_ + "/fp32.kestrel", 50000, 500);
  EXPECT_LT(top1(dir_ + "/planted.kestrel", 50000, 500), fp32 - 0.2);

  const CliResult guarded =
      run_cli(convert_args("guarded.kestrel", "--quant-config " + config + " " + guard_args(0.5)));
  ASSERT_EQ(guarded.exit_code, 0) << guarded.output;
  EXPECT_NE(guarded.output.find("FP32 (accuracy guard): " + std::string(kPlanted)), std::string::npos)
      << guarded.output;
  EXPECT_NE(guarded.output.find("with 1 of 6 layers back in FP32"), std::string::npos) << guarded.output;
  EXPECT_NE(guarded.output.find("quant config written to " + dir_ + "/guarded.kestrel.quant.json"), std::string::npos)
      << guarded.output;
  const nlohmann::json written = read_json(dir_ + "/guarded.kestrel.quant.json");
  ASSERT_FALSE(written.is_discarded());
  EXPECT_EQ(float_nodes(written), std::vector<std::string>{kPlanted});
  EXPECT_EQ(written["calibration_count"].get<int>(), 256);
  // The validation slice is within budget, as the guard measured it.
  EXPECT_GE(top1(dir_ + "/guarded.kestrel", 50000, 500), fp32 - 0.005 - 1e-9);

  // The written config reproduces the model: every tensor identical.
  ASSERT_EQ(run_cli(convert_args("again.kestrel", "--quiet --quant-config " + dir_ + "/guarded.kestrel.quant.json"))
                .exit_code,
            0);
  const CliOutput compared = run_cli_stdout("compare --reference " + dir_ + "/guarded.kestrel --candidate " + dir_ +
                                                "/again.kestrel --dataset " + train("t10k-images-idx3-ubyte.gz") +
                                                " --preprocess " + kPreprocess + " --count 8 --json",
                                            dir_);
  ASSERT_EQ(compared.exit_code, 0) << compared.diagnostics;
  const auto json = nlohmann::json::parse(compared.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded());
  ASSERT_GT(json["tensors"].size(), 5u);
  for (const auto& t : json["tensors"]) EXPECT_TRUE(t["sqnr_db"].is_null()) << t.dump();
}

// Rows of the --sensitivity table: node, FP32-alone gain, INT8-alone SQNR.
struct SensitivityRow {
  std::string node;
  double gain = 0, alone = 0;
};

std::vector<SensitivityRow> sensitivity_rows(const std::string& output) {
  std::vector<SensitivityRow> rows;
  std::istringstream lines(output.substr(output.find("INT8 saves ms")));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line) && line.rfind("  /", 0) == 0) {
    std::istringstream fields(line);
    SensitivityRow row;
    fields >> row.node >> row.gain >> row.alone;
    rows.push_back(row);
  }
  return rows;
}

TEST_F(CliAccuracyGuard, SensitivityRanksThePlantedLayerFirstBothWays) {
  const CliResult result =
      run_cli(convert_args("s.kestrel", "--quant-config " + planted_config() + " --sensitivity 16"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_NE(result.output.find("INT8 saves ms"), std::string::npos) << result.output;
  const std::vector<SensitivityRow> rows = sensitivity_rows(result.output);
  ASSERT_EQ(rows.size(), 6u) << result.output;
  EXPECT_EQ(rows[0].node, kPlanted);
  EXPECT_GT(rows[0].gain, 10.0) << result.output;  // keeping it in FP32 repairs the logits
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LT(rows[i].gain, 1.0) << result.output;                  // no other layer matters much
    EXPECT_GT(rows[i].alone, rows[0].alone + 10) << result.output;  // alone in INT8, the planted layer is the worst
  }
}

TEST_F(CliAccuracyGuard, WithinBudgetMovesNothing) {
  const CliResult result = run_cli(convert_args("int8.kestrel", guard_args(20)));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("no layer moved"), std::string::npos) << result.output;
  const nlohmann::json written = read_json(dir_ + "/int8.kestrel.quant.json");
  ASSERT_FALSE(written.is_discarded());
  EXPECT_TRUE(float_nodes(written).empty());
}

TEST_F(CliAccuracyGuard, WritesTheConfigWhereAsked) {
  const std::string path = dir_ + "/chosen.json";
  ASSERT_EQ(
      run_cli(convert_args("int8.kestrel", "--quiet " + guard_args(20) + " --write-quant-config " + path)).exit_code,
      0);
  EXPECT_FALSE(read_json(path).is_discarded());
}

TEST_F(CliAccuracyGuard, ValidationOverlappingCalibrationIsAnError) {
  expect_clean_error(run_cli(convert_args("int8.kestrel", guard_args(0.5, 200, 100))),
                     {"validation images 200..299 overlap the calibration images 0..255", "--validation-offset"});
}

TEST_F(CliAccuracyGuard, BudgetThatNeedsEveryLayerInFp32IsAnErrorAndWritesNothing) {
  // Every layer planted: the budget of 0 is met only by the FP32 model itself.
  const std::string config =
      write("all.json", R"({"defaults": {"calibration_method": "percentile", "percentile": 40}})");
  const CliResult result =
      run_cli(convert_args("int8.kestrel", "--quiet --quant-config " + config + " " + guard_args(0, 50000, 200)));
  expect_clean_error(result, {"--max-accuracy-drop 0 cannot be met", "nothing was written"});
  EXPECT_FALSE(std::ifstream(dir_ + "/int8.kestrel").good());
  EXPECT_FALSE(std::ifstream(dir_ + "/int8.kestrel.quant.json").good());
}

TEST_F(CliAccuracyGuard, BadGuardSettingsAreErrors) {
  expect_clean_error(run_cli(convert_args("a.kestrel", "--max-accuracy-drop 0.5")),
                     {"--max-accuracy-drop needs --validation-data"});
  expect_clean_error(run_cli(convert_args("a.kestrel", "--max-accuracy-drop 0.5 --validation-data " +
                                                           train("train-images-idx3-ubyte.gz"))),
                     {"--validation-labels is required"});
  expect_clean_error(run_cli(convert_args("a.kestrel", "--validation-data " + train("train-images-idx3-ubyte.gz"))),
                     {"--validation-data is for the accuracy guard"});
  expect_clean_error(run_cli("convert --model " + kCnn + " --output " + dir_ + "/f.kestrel " + guard_args(0.5)),
                     {"--max-accuracy-drop is for --precision int8"});
  expect_clean_error(run_cli(convert_args("a.kestrel", guard_args(0.5, 59900, 500))), {"--validation-count", "60000"});
}

}  // namespace
}  // namespace kestrel::testing
