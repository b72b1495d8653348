// kestrel report: the FP32 vs INT8 table agrees with `kestrel eval` on the
// same images, the page is self-contained and holds the table and the four
// plots, and bad input gets one clear line.
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
const std::string kClasses = source_path("models/fmnist_classes.txt");

std::string test_set() {
  return "--dataset " + fashion_mnist_path("t10k-images-idx3-ubyte.gz") + " --labels " +
         fashion_mnist_path("t10k-labels-idx1-ubyte.gz") + " --preprocess " + kPreprocess;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

class CliReport : public ::testing::Test {
 protected:
  // Both models converted once, by the first test that runs.
  void SetUp() override {
    KESTREL_REQUIRE_FILE(kCnn);
    KESTREL_REQUIRE_FILE(fashion_mnist_path("t10k-images-idx3-ubyte.gz"));
    if (dir_ == nullptr) {
      dir_ = new std::string(scratch_dir());
      const std::string convert = "convert --quiet --model " + kCnn + " --output " + *dir_;
      converted_ = run_cli(convert + "/fp32.kestrel").exit_code == 0 &&
                   run_cli(convert + "/int8.kestrel --precision int8 --calibration-count 64 --calibration-data " +
                           fashion_mnist_path("train-images-idx3-ubyte.gz") + " --preprocess " + kPreprocess)
                           .exit_code == 0;
    }
    ASSERT_TRUE(converted_) << "converting " << kCnn << " failed";
  }
  static std::string fp32() { return *dir_ + "/fp32.kestrel"; }
  static std::string int8() { return *dir_ + "/int8.kestrel"; }
  static std::string report_args(const std::string& extra) {
    return "report --fp32 " + fp32() + " --int8 " + int8() + " " + test_set() + " --output " + *dir_ +
           "/report.html --rounds 2 --iterations 10 --threads 1 " + extra;
  }
  static inline std::string* dir_ = nullptr;
  static inline bool converted_ = false;
};

double eval_top1(const std::string& model, const std::string& dir) {
  const CliOutput out =
      run_cli_stdout("eval --model " + model + " " + test_set() + " --offset 100 --limit 300 --json", dir);
  EXPECT_EQ(out.exit_code, 0) << out.diagnostics;
  const auto json = nlohmann::json::parse(out.out, nullptr, false);
  return json.is_discarded() ? -1.0 : json["top1"].get<double>();
}

TEST_F(CliReport, TableAgreesWithEvalAndThePageHoldsTableAndPlots) {
  const CliOutput out = run_cli_stdout(report_args("--offset 100 --limit 300 --json --class-names " + kClasses), *dir_);
  ASSERT_EQ(out.exit_code, 0) << out.out << out.diagnostics;
  const auto json = nlohmann::json::parse(out.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out.out;
  for (const char* precision : {"fp32", "int8"}) {
    const auto& m = json[precision];
    SCOPED_TRACE(precision);
    EXPECT_EQ(m["images"].get<int>(), 300);
    EXPECT_DOUBLE_EQ(m["top1"].get<double>(), eval_top1(precision == std::string("fp32") ? fp32() : int8(), *dir_));
    int64_t images = 0, hits = 0;
    for (const auto& c : m["classes"]) {
      images += c["images"].get<int64_t>();
      hits += c["top1"].get<int64_t>();
    }
    EXPECT_EQ(images, 300);
    EXPECT_EQ(hits, std::llround(m["top1"].get<double>() * 300));
    EXPECT_EQ(m["runs"].get<int>(), 20);  // 2 rounds of 10
    const auto& latency = m["latency_ms"];
    EXPECT_GT(latency["median"].get<double>(), 0);
    EXPECT_LE(latency["median"].get<double>(), latency["p90"].get<double>());
    EXPECT_LE(latency["p90"].get<double>(), latency["p99"].get<double>());
    EXPECT_GT(m["file_bytes"].get<int64_t>(), 0);
    ASSERT_TRUE(m["peak_bytes"].is_number()) << m.dump();  // measured in a child process
    EXPECT_GT(m["peak_bytes"].get<int64_t>(), 0);
    EXPECT_GT(m["load_ms"].get<double>(), 0);
    EXPECT_GT(m["layers"].size(), 5u);
  }
  // INT8 runs quantized convolutions; the FP32 model none.
  bool int8_conv = false;
  for (const auto& layer : json["int8"]["layers"]) int8_conv |= layer["op"] == "QFusedConv";
  EXPECT_TRUE(int8_conv);
  EXPECT_NEAR(json["speedup"].get<double>(),
              json["fp32"]["latency_ms"]["median"].get<double>() / json["int8"]["latency_ms"]["median"].get<double>(),
              1e-9);

  std::ifstream file(*dir_ + "/report.html");
  std::stringstream page;
  page << file.rdbuf();
  const std::string html = page.str();
  ASSERT_FALSE(html.empty());
  EXPECT_EQ(occurrences(html, "<svg"), 4u);  // latency, time per layer, error per layer, top-1 per class
  EXPECT_EQ(occurrences(html, "<tr>"), 3u);  // header, FP32, INT8
  char top1[32];
  std::snprintf(top1, sizeof top1, "%.2f %%", 100 * json["int8"]["top1"].get<double>());
  EXPECT_NE(html.find(top1), std::string::npos) << top1;
  EXPECT_NE(html.find("Ankle boot"), std::string::npos);                        // class names in the class plot
  EXPECT_NE(html.find("/stage2/stage2.0/stage2.0.0/Conv"), std::string::npos);  // layers by node name
  // Self-contained: nothing fetched, nothing run.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST_F(CliReport, PrintsTheTable) {
  const CliResult result = run_cli(report_args("--limit 50"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("| FP32 |"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("| INT8 |"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("faster, top-1"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("wrote " + *dir_ + "/report.html"), std::string::npos) << result.output;
}

TEST_F(CliReport, ModelsTakingDifferentInputsAreAnError) {
  const std::string batch4 = *dir_ + "/batch4.kestrel";
  ASSERT_EQ(run_cli("convert --quiet --model " + kCnn + " --input-shape input:4,1,28,28 --output " + batch4).exit_code,
            0);
  expect_clean_error(run_cli("report --fp32 " + batch4 + " --int8 " + int8() + " " + test_set() + " --output " + *dir_ +
                             "/x.html --limit 8"),
                     {"the two models take different inputs", "[4,1,28,28]", "[1,1,28,28]"});
}

TEST_F(CliReport, FewerImagesThanAskedIsAnError) {
  expect_clean_error(run_cli(report_args("--offset 9990 --limit 20")), {"--limit", "10000"});
}

TEST_F(CliReport, NeedsCompiledModelsAndLabels) {
  expect_clean_error(
      run_cli("report --fp32 " + kCnn + " --int8 " + int8() + " " + test_set() + " --output " + *dir_ + "/x.html"),
      {"fmnist_cnn.onnx", "two .kestrel files"});
  expect_clean_error(run_cli("report --fp32 " + fp32() + " --int8 " + int8() + " --dataset " +
                             fashion_mnist_path("t10k-images-idx3-ubyte.gz") + " --preprocess " + kPreprocess +
                             " --output " + *dir_ + "/x.html"),
                     {"--labels is required"});
}

}  // namespace
}  // namespace kestrel::testing
