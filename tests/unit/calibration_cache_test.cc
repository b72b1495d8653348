// The calibration cache (quant/calibration_cache.h): written next to the
// output, reused only while model, images and preprocessing are unchanged,
// never trusted when damaged, and refused when named explicitly for other
// inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "quant/calibration_cache.h"
#include "test_images.h"
#include "test_paths.h"
#include "test_seed.h"
#include "unit/cli_test_util.h"

namespace kestrel::testing {
namespace {

const std::string kCnn = source_path("models/fmnist_cnn.onnx");
const std::string kPreprocess = source_path("models/fmnist_cnn.preprocess.json");

std::string convert_int8(const std::string& model, const std::string& output, const std::string& data,
                         const std::string& extra = "") {
  return "convert --model " + model + " --output " + output + " --input-shape input:1,1,28,28 --precision int8 " +
         "--preprocess " + kPreprocess + " --calibration-data " + data + " --calibration-count 8 " + extra;
}

std::string png_folder(const std::string& root, const std::string& name, int count, int seed) {
  std::string dir = root + "/" + name;
  std::filesystem::create_directories(dir);
  for (int i = 0; i < count; ++i)
    EXPECT_TRUE(write_png(dir + "/img" + std::to_string(i) + ".png", pattern_image(28, 28, 1, i + seed)));
  return dir;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// What `inspect` says of a model (quantization parameters included) but its creation time.
std::string described(const std::string& model) {
  const CliResult inspected = run_cli("inspect --model " + model);
  EXPECT_EQ(inspected.exit_code, 0) << inspected.output;
  const size_t created = inspected.output.find("created: ");
  if (created == std::string::npos) return inspected.output;
  return inspected.output.substr(0, created) + inspected.output.substr(inspected.output.find('\n', created));
}

TEST(CalibrationCache, StatsSurviveTheRoundTrip) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  CalibrationResult result;
  for (int t = 0; t < 3; ++t) {
    TensorStats stats;
    std::vector<float> values(1000);
    for (float& v : values) v = std::normal_distribution<float>(0.0f, 1.0f + static_cast<float>(t))(rng);
    stats.add(values.data(), static_cast<int64_t>(values.size()));
    result.stats.emplace("tensor" + std::to_string(t), stats);
  }
  result.first_batch = Tensor(DType::kFloat32, {2, 3});
  for (int i = 0; i < 6; ++i) result.first_batch.data<float>()[i] = static_cast<float>(i) * 0.5f;
  const std::string path = scratch_dir() + "/stats.calib";
  const CalibrationFingerprint fingerprint{1, 2, 3, 4};
  ASSERT_TRUE(write_calibration_cache(path, fingerprint, result).ok());

  auto read = read_calibration_cache(path, fingerprint);
  ASSERT_TRUE(read.ok()) << read.status().message();
  ASSERT_TRUE(read->result.has_value());
  ASSERT_EQ(read->result->stats.size(), 3u);
  for (const auto& [name, stats] : result.stats) {
    const TensorStats& back = read->result->stats.at(name);
    EXPECT_EQ(back.histogram(), stats.histogram()) << name;
    EXPECT_EQ(back.count(), stats.count());
    EXPECT_EQ(back.min(), stats.min());
    EXPECT_EQ(back.max(), stats.max());
    EXPECT_EQ(back.bin_width(), stats.bin_width());
  }
  EXPECT_EQ(read->result->first_batch.shape(), (Shape{2, 3}));
  EXPECT_EQ(read->result->first_batch.data<float>()[5], 2.5f);

  // Another model's or dataset's fingerprint: stale, saying which.
  auto other = read_calibration_cache(path, CalibrationFingerprint{9, 2, 8, 4});
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->result.has_value());
  EXPECT_EQ(other->stale, "the model and the preprocessing");
  // No file: neither a result nor stale.
  auto missing = read_calibration_cache(path + ".none", fingerprint);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->result.has_value());
  EXPECT_TRUE(missing->stale.empty());
}

TEST(CalibrationCache, DamageIsAnErrorNamingTheFile) {
  CalibrationResult result;
  TensorStats stats;
  const float values[] = {0.5f, -1.0f, 2.0f};
  stats.add(values, 3);
  result.stats.emplace("t", stats);
  const std::string path = scratch_dir() + "/damaged.calib";
  ASSERT_TRUE(write_calibration_cache(path, {1, 2, 3, 4}, result).ok());
  const std::string good = read_bytes(path);
  // A flipped byte anywhere (each one of the header, fingerprint and
  // trailer; every 61st elsewhere) and truncation are caught.
  for (size_t i = 0; i < good.size(); i += (i < 64 || i + 16 >= good.size()) ? 1 : 61) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bad;
    auto read = read_calibration_cache(path, {1, 2, 3, 4});
    ASSERT_FALSE(read.ok()) << "byte " << i;
    EXPECT_TRUE(contains(read.status().message(), path + ": not a sound calibration cache")) << read.status().message();
  }
  for (size_t size : {size_t{0}, size_t{5}, good.size() / 2, good.size() - 1}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << good.substr(0, size);
    EXPECT_FALSE(read_calibration_cache(path, {1, 2, 3, 4}).ok()) << "truncated to " << size;
  }
}

TEST(CalibrationCache, ConvertReusesItOnlyWhileInputsAreUnchanged) {
  KESTREL_REQUIRE_FILE(kCnn);
  const std::string root = scratch_dir();
  const std::string images = png_folder(root, "images", 8, 0);
  const std::string out = root + "/cnn.kestrel", cache = out + ".calib";

  const CliResult first = run_cli(convert_int8(kCnn, out, images));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_FALSE(contains(first.output, "reused")) << first.output;
  ASSERT_TRUE(std::filesystem::exists(cache));
  const std::string fresh = described(out);
  EXPECT_TRUE(contains(fresh, "uint8 (0.")) << fresh;

  // Same inputs, another method: the statistics are reused.
  const CliResult second = run_cli(convert_int8(kCnn, out, images, "--calibration-method mse"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_TRUE(contains(second.output, "calibration statistics reused from " + cache)) << second.output;
  // The same method again: the same model as a fresh calibration.
  ASSERT_EQ(run_cli(convert_int8(kCnn, out, images)).exit_code, 0);
  const std::string reused = described(out);
  EXPECT_TRUE(reused == fresh) << "fresh:\n" << fresh << "\nfrom the cache:\n" << reused;

  // One image's content changes: stale, calibrated again.
  ASSERT_TRUE(write_png(images + "/img3.png", pattern_image(28, 28, 1, 99)));
  const CliResult changed = run_cli(convert_int8(kCnn, out, images));
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_TRUE(contains(changed.output, cache + " is stale (the calibration images changed): calibrating again"))
      << changed.output;
  EXPECT_FALSE(contains(changed.output, "reused")) << changed.output;
  // ...and the new cache matches the new images.
  const CliResult again = run_cli(convert_int8(kCnn, out, images));
  EXPECT_TRUE(contains(again.output, "reused")) << again.output;

  // --no-calibration-cache calibrates and leaves the cache alone.
  const CliResult uncached = run_cli(convert_int8(kCnn, out, images, "--no-calibration-cache"));
  ASSERT_EQ(uncached.exit_code, 0) << uncached.output;
  EXPECT_FALSE(contains(uncached.output, "reused")) << uncached.output;

  // A damaged cache is an error naming it, not a silent recalibration.
  std::string bytes = read_bytes(cache);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
  std::ofstream(cache, std::ios::binary | std::ios::trunc) << bytes;
  expect_clean_error(run_cli(convert_int8(kCnn, out, images)), {cache, "not a sound calibration cache"});
}

TEST(CalibrationCache, ANamedCacheFromAnotherModelIsRefused) {
  KESTREL_REQUIRE_FILE(kCnn);
  const std::string root = scratch_dir();
  const std::string images = png_folder(root, "images", 8, 0);
  const std::string cache = root + "/shared.calib";
  ASSERT_EQ(run_cli(convert_int8(kCnn, root + "/a.kestrel", images, "--calibration-cache " + cache)).exit_code, 0);
  // The same network, one byte different (its producer string): another model.
  std::string onnx = read_bytes(kCnn);
  const size_t at = onnx.find("pytorch");
  ASSERT_NE(at, std::string::npos);
  onnx[at] = 'P';
  const std::string other = root + "/other.onnx";
  std::ofstream(other, std::ios::binary) << onnx;
  expect_clean_error(run_cli(convert_int8(other, root + "/b.kestrel", images, "--calibration-cache " + cache)),
                     {cache, "calibration cache made for other inputs (the model differ"});
  expect_clean_error(
      run_cli(convert_int8(kCnn, root + "/c.kestrel", images, "--calibration-cache x.calib --no-calibration-cache")),
      {"--calibration-cache and --no-calibration-cache contradict each other"});
}

}  // namespace
}  // namespace kestrel::testing
