// Image decoding and datasets: PNG/JPEG files written here, ImageFolder and
// labels.txt layouts, IDX, and the errors for everything that can be wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/dataset.h"
#include "io/image.h"
#include "test_images.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

namespace fs = std::filesystem;

void write_image(const std::string& path, int64_t channels, int seed) {
  fs::create_directories(fs::path(path).parent_path());
  const Image image = pattern_image(6, 5, channels, seed);
  std::string lower = path;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool png = lower.ends_with(".png");
  ASSERT_TRUE(png ? write_png(path, image) : write_jpeg(path, image)) << path;
}

void expect_error(const Status& status, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(status.ok());
  for (const auto& fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  }
}

TEST(Image, DecodesPngExactlyAndDropsAlpha) {
  const std::string dir = scratch_dir();
  for (int64_t channels : {1, 2, 3, 4}) {
    const Image written = pattern_image(7, 9, channels, static_cast<int>(channels));
    const std::string path = dir + "/c" + std::to_string(channels) + ".png";
    ASSERT_TRUE(write_png(path, written));
    auto decoded = decode_image_file(path);
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    const int64_t kept = channels <= 2 ? 1 : 3;
    ASSERT_EQ(decoded->height, 7);
    ASSERT_EQ(decoded->width, 9);
    ASSERT_EQ(decoded->channels, kept);
    for (int64_t i = 0; i < 7 * 9; ++i) {
      for (int64_t c = 0; c < kept; ++c) {
        const auto got = decoded->pixels[static_cast<size_t>(i * kept + c)];
        ASSERT_EQ(got, written.pixels[static_cast<size_t>(i * channels + c)]) << path << " pixel " << i;
      }
    }
  }
}

TEST(Image, DecodesJpeg) {
  const std::string dir = scratch_dir();
  Image flat{8, 16, 3, std::vector<uint8_t>(8 * 16 * 3, 200)};
  ASSERT_TRUE(write_jpeg(dir + "/flat.jpg", flat));
  auto decoded = decode_image_file(dir + "/flat.jpg");
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded->height, 8);
  EXPECT_EQ(decoded->width, 16);
  EXPECT_EQ(decoded->channels, 3);
  for (uint8_t value : decoded->pixels) EXPECT_NEAR(value, 200, 2);
}

TEST(Image, ErrorsNameTheFileAndReason) {
  const std::string dir = scratch_dir();
  std::ofstream(dir + "/text.png") << "this is not a PNG file";
  expect_error(decode_image_file(dir + "/text.png").status(), {"text.png", "cannot decode: "});
  std::ofstream(dir + "/empty.jpg").close();  // an empty file
  expect_error(decode_image_file(dir + "/empty.jpg").status(), {"empty.jpg", "cannot decode"});
  ASSERT_TRUE(write_png(dir + "/whole.png", pattern_image(32, 32, 3, 1)));
  const auto size = fs::file_size(dir + "/whole.png");
  fs::resize_file(dir + "/whole.png", size / 2);
  expect_error(decode_image_file(dir + "/whole.png").status(), {"whole.png", "cannot decode"});
  expect_error(decode_image_file(dir + "/absent.png").status(), {"absent.png", "cannot open"});
  EXPECT_TRUE(is_image_file_name("a/B.JPeG"));
  EXPECT_FALSE(is_image_file_name("a/b.gif"));
}

TEST(Dataset, ImageFolderLabelsAreSortedClassFolders) {
  const std::string dir = scratch_dir();
  write_image(dir + "/dog/x.PNG", 3, 1);
  write_image(dir + "/dog/sub/y.jpeg", 3, 2);
  write_image(dir + "/cat/b.png", 1, 3);
  write_image(dir + "/cat/a.jpg", 3, 4);
  write_image(dir + "/zebra/z.png", 3, 5);
  fs::create_directories(dir + "/empty_class");  // still a class, as in torchvision
  std::ofstream(dir + "/cat/notes.txt") << "not an image";
  auto dataset = open_image_folder(dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  const Dataset& data = **dataset;
  ASSERT_TRUE(data.has_labels());
  EXPECT_EQ(data.class_names(), (std::vector<std::string>{"cat", "dog", "empty_class", "zebra"}));
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"cat/a.jpg", 0}, {"cat/b.png", 0}, {"dog/sub/y.jpeg", 1}, {"dog/x.PNG", 1}, {"zebra/z.png", 3}};
  ASSERT_EQ(data.size(), static_cast<int64_t>(expected.size()));
  for (int64_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data.item_name(i), (fs::path(dir) / expected[static_cast<size_t>(i)].first).string());
    auto example = data.get(i);
    ASSERT_TRUE(example.ok()) << example.status().message();
    EXPECT_EQ(example->label, expected[static_cast<size_t>(i)].second) << i;
    EXPECT_EQ(example->image.height, 6);
    EXPECT_EQ(example->image.width, 5);
  }
  auto limited = open_image_folder(dir, 2);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ((*limited)->size(), 2);
}

TEST(Dataset, LabelsFileGivesLabels) {
  const std::string dir = scratch_dir();
  write_image(dir + "/a.png", 1, 1);
  write_image(dir + "/sub/b.jpg", 3, 2);
  write_image(dir + "/c d.png", 3, 3);
  std::ofstream(dir + "/labels.txt") << "a.png 3\n# a comment\n\nsub/b.jpg\t1\nc d.png 7\r\n";
  auto dataset = open_dataset(dir, "");
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  ASSERT_EQ((*dataset)->size(), 3);
  EXPECT_TRUE((*dataset)->class_names().empty());
  const std::vector<int64_t> labels = {3, 7, 1};  // a.png, c d.png, sub/b.jpg
  for (int64_t i = 0; i < 3; ++i) {
    auto example = (*dataset)->get(i);
    ASSERT_TRUE(example.ok()) << example.status().message();
    EXPECT_EQ(example->label, labels[static_cast<size_t>(i)]) << (*dataset)->item_name(i);
  }
}

TEST(Dataset, LabelsFileErrors) {
  const std::string dir = scratch_dir();
  write_image(dir + "/a.png", 1, 1);
  write_image(dir + "/b.png", 1, 2);
  std::ofstream(dir + "/labels.txt") << "a.png 1\n";
  expect_error(open_image_folder(dir).status(), {"labels.txt", "no label for image 'b.png'"});
  std::ofstream(dir + "/labels.txt") << "a.png 1\nb.png 2\nc.png 3\n";
  expect_error(open_image_folder(dir).status(), {"labels.txt", "'c.png'", "not a .png/.jpg/.jpeg image"});
  std::ofstream(dir + "/labels.txt") << "a.png 1\nb.png two\n";
  expect_error(open_image_folder(dir).status(), {"labels.txt:2", "'two'"});
  std::ofstream(dir + "/labels.txt") << "a.png\n";
  expect_error(open_image_folder(dir).status(), {"labels.txt:1", "relative/path label"});
}

TEST(Dataset, ImagesAtTheTopWithoutLabelsAreUnlabelled) {
  const std::string dir = scratch_dir();
  write_image(dir + "/one.png", 3, 1);
  write_image(dir + "/two.jpg", 3, 2);
  auto dataset = open_image_folder(dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  EXPECT_FALSE((*dataset)->has_labels());
  auto example = (*dataset)->get(1);
  ASSERT_TRUE(example.ok());
  EXPECT_EQ(example->label, kNoLabel);
}

TEST(Dataset, EmptyOrMissingFolderIsAnError) {
  const std::string dir = scratch_dir();
  fs::create_directories(dir + "/empty");
  expect_error(open_image_folder(dir + "/empty").status(), {"empty", "no .png/.jpg/.jpeg images"});
  fs::create_directories(dir + "/texts/sub");
  std::ofstream(dir + "/texts/sub/readme.txt") << "hello";
  expect_error(open_image_folder(dir + "/texts").status(), {"texts", "no .png/.jpg/.jpeg images"});
  expect_error(open_image_folder(dir + "/absent").status(), {"absent", "no such folder"});
}

TEST(Dataset, UndecodableImageNamesTheFile) {
  const std::string dir = scratch_dir();
  write_image(dir + "/cls/good.png", 1, 1);
  fs::create_directories(dir + "/cls");
  std::ofstream(dir + "/cls/broken.jpg") << "not a jpeg";
  auto dataset = open_image_folder(dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  expect_error((*dataset)->get(0).status(), {"cls/broken.jpg", "cannot decode"});
  EXPECT_TRUE((*dataset)->get(1).ok());
  EXPECT_FALSE((*dataset)->get(2).ok());
}

TEST(Dataset, IdxImagesAndLabels) {
  const std::string images = fashion_mnist_path("t10k-images-idx3-ubyte.gz");
  const std::string labels = fashion_mnist_path("t10k-labels-idx1-ubyte.gz");
  KESTREL_REQUIRE_FILE(images);
  auto dataset = open_dataset(images, labels, 5);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  ASSERT_EQ((*dataset)->size(), 5);
  auto first = (*dataset)->get(0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->label, 9);  // an ankle boot
  EXPECT_EQ(first->image.height, 28);
  EXPECT_EQ(first->image.channels, 1);
  EXPECT_EQ((*dataset)->item_name(3), images + "[3]");
  auto unlabelled = open_dataset(images, "", 2);
  ASSERT_TRUE(unlabelled.ok());
  EXPECT_FALSE((*unlabelled)->has_labels());
  expect_error(open_dataset(labels, "", 2).status(), {"expected grey images"});
}

}  // namespace
}  // namespace kestrel::testing
