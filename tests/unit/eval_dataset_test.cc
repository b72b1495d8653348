// kestrel eval on a folder of PNGs gives the same predictions as on the IDX
// file the PNGs were made from, and folder problems are clean one-line errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_test_util.h"
#include "io/idx.h"
#include "test_images.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

constexpr int64_t kImages = 20;
constexpr int kClasses = 10;

// The per-image lines of `eval --show`, without the summary (it holds timings).
std::vector<std::string> image_lines(const std::string& output) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("image ")) lines.push_back(line);
  }
  return lines;
}

class EvalFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    images_ = fashion_mnist_path("t10k-images-idx3-ubyte.gz");
    labels_ = fashion_mnist_path("t10k-labels-idx1-ubyte.gz");
    model_ = source_path("models/fmnist_cnn.onnx");
    spec_ = source_path("models/fmnist_cnn.preprocess.json");
    for (const auto& path : {images_, labels_, model_, spec_}) KESTREL_REQUIRE_FILE(path);
    dir_ = scratch_dir();
  }

  // The first 20 test images as PNGs: in class folders "0".."9" (all ten, so
  // folder order is label order) and, flat, with a labels.txt.
  void write_folders() {
    auto images = read_idx(images_, kImages);
    auto labels = read_idx(labels_, kImages);
    ASSERT_TRUE(images.ok() && labels.ok());
    for (int c = 0; c < kClasses; ++c) std::filesystem::create_directories(dir_ + "/classes/" + std::to_string(c));
    std::filesystem::create_directories(dir_ + "/flat");
    std::ofstream labels_file(dir_ + "/flat/labels.txt");
    for (int64_t i = 0; i < kImages; ++i) {
      const uint8_t* pixels = images->data<uint8_t>() + i * 28 * 28;
      const Image image{28, 28, 1, std::vector<uint8_t>(pixels, pixels + 28 * 28)};
      const int label = labels->data<uint8_t>()[i];
      char name[32];
      std::snprintf(name, sizeof(name), "img_%02d.png", static_cast<int>(i));
      ASSERT_TRUE(write_png(dir_ + "/classes/" + std::to_string(label) + "/" + name, image));
      ASSERT_TRUE(write_png(dir_ + "/flat/" + name, image));
      labels_file << name << " " << label << "\n";
    }
  }

  std::string eval_args(const std::string& dataset) const {
    return "eval --model " + model_ + " --preprocess " + spec_ + " --dataset " + dataset;
  }

  std::string images_, labels_, model_, spec_, dir_;
};

TEST_F(EvalFolder, PngFolderMatchesIdx) {
  write_folders();
  const std::string idx = eval_args(images_) + " --labels " + labels_ + " --limit " + std::to_string(kImages);
  const auto idx_json = run_cli(idx + " --json");
  const auto folder_json = run_cli(eval_args(dir_ + "/classes") + " --json");
  ASSERT_EQ(idx_json.exit_code, 0) << idx_json.output;
  ASSERT_EQ(folder_json.exit_code, 0) << folder_json.output;
  for (const char* key : {"\"top1\":", "\"top5\":", "\"images\":20"}) {
    const auto a = idx_json.output.find(key), b = folder_json.output.find(key);
    ASSERT_NE(a, std::string::npos) << idx_json.output;
    ASSERT_NE(b, std::string::npos) << folder_json.output;
    EXPECT_EQ(idx_json.output.substr(a, idx_json.output.find(',', a) - a),
              folder_json.output.substr(b, folder_json.output.find(',', b) - b));
  }
  // The flat folder keeps the IDX order, so every prediction can be compared.
  const auto idx_show = run_cli(idx + " --show 20 --batch 3");
  const auto flat_show = run_cli(eval_args(dir_ + "/flat") + " --show 20 --batch 3");
  ASSERT_EQ(idx_show.exit_code, 0) << idx_show.output;
  ASSERT_EQ(flat_show.exit_code, 0) << flat_show.output;
  EXPECT_EQ(image_lines(idx_show.output).size(), static_cast<size_t>(kImages)) << idx_show.output;
  EXPECT_EQ(image_lines(idx_show.output), image_lines(flat_show.output));
}

TEST_F(EvalFolder, FolderErrorsAreOneLine) {
  expect_clean_error(run_cli(eval_args(images_)), {"--labels is required"});
  std::filesystem::create_directories(dir_ + "/empty");
  expect_clean_error(run_cli(eval_args(dir_ + "/empty")), {"empty", "no .png/.jpg/.jpeg images"});
  std::filesystem::create_directories(dir_ + "/top");
  ASSERT_TRUE(write_png(dir_ + "/top/a.png", pattern_image(28, 28, 1, 1)));
  expect_clean_error(run_cli(eval_args(dir_ + "/top")), {"top", "has no labels"});
  std::filesystem::create_directories(dir_ + "/bad/shirt");
  ASSERT_TRUE(write_png(dir_ + "/bad/shirt/a.png", pattern_image(28, 28, 1, 1)));
  ASSERT_TRUE(write_png(dir_ + "/bad/shirt/b.png", pattern_image(28, 28, 3, 2)));
  std::ofstream(dir_ + "/bad/shirt/c.jpg") << "not a jpeg";
  expect_clean_error(run_cli(eval_args(dir_ + "/bad")), {"shirt/b.png", "color 'grey'"});
  std::filesystem::remove(dir_ + "/bad/shirt/b.png");
  expect_clean_error(run_cli(eval_args(dir_ + "/bad")), {"shirt/c.jpg", "cannot decode"});
  ASSERT_TRUE(write_png(dir_ + "/bad/shirt/b.png", pattern_image(30, 28, 1, 2)));
  expect_clean_error(run_cli(eval_args(dir_ + "/bad")), {"shirt/b.png", "[1,1,30,28]"});
}

}  // namespace
}  // namespace kestrel::testing
