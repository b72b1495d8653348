// BatchLoader: batches come out in dataset order with the preprocessed images
// bit for bit, whatever the number of workers; errors arrive at their batch;
// a loader dropped mid-way stops cleanly. ProgressBar: its line, and silence
// when disabled.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/batch_loader.h"
#include "io/progress.h"
#include "test_images.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kHeight = 6;
constexpr int64_t kWidth = 5;

// A grey spec with every step that changes values, so a row in the wrong place shows.
PreprocessSpec grey_spec() {
  PreprocessSpec spec;
  spec.scale = 1.0f / 255.0f;
  spec.mean = {0.25f};
  spec.std = {0.5f};
  return spec;
}

std::string image_name(int64_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "img_%02d.png", static_cast<int>(index));
  return name;
}

// `count` grey PNGs img_00.png... with labels.txt giving image i the label 3 * i % 10.
std::unique_ptr<Dataset> write_folder(const std::string& dir, int64_t count) {
  std::ofstream labels(dir + "/labels.txt");
  for (int64_t i = 0; i < count; ++i) {
    EXPECT_TRUE(write_png(dir + "/" + image_name(i), pattern_image(kHeight, kWidth, 1, static_cast<int>(i))));
    labels << image_name(i) << " " << 3 * i % 10 << "\n";
  }
  labels.close();
  auto dataset = open_image_folder(dir);
  EXPECT_TRUE(dataset.ok()) << dataset.status().message();
  return dataset.ok() ? std::move(dataset).value() : nullptr;
}

std::unique_ptr<Dataset> open_fashion_mnist(int64_t count) {
  const std::string images = fashion_mnist_path("t10k-images-idx3-ubyte.gz");
  const std::string labels = fashion_mnist_path("t10k-labels-idx1-ubyte.gz");
  if (!fs::exists(images) || !fs::exists(labels)) {
    ADD_FAILURE() << "required test file is missing: " << images;
    return nullptr;
  }
  auto dataset = open_dataset(images, labels, count);
  EXPECT_TRUE(dataset.ok()) << dataset.status().message();
  return dataset.ok() ? std::move(dataset).value() : nullptr;
}

// Every batch, until the end or the first error (returned as the status).
Status load_all(const Dataset& dataset, const PreprocessSpec& spec, int64_t batch_size, int workers, int prefetch,
                std::vector<Batch>& batches) {
  batches.clear();
  KESTREL_ASSIGN_OR_RETURN(PreprocessedSize size, first_image_size(dataset, spec));
  KESTREL_ASSIGN_OR_RETURN(auto loader,
                           BatchLoader::create(dataset, spec, size, dataset.size(), batch_size, workers, prefetch));
  for (;;) {
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> batch, loader->next());
    if (!batch) return {};
    batches.push_back(std::move(*batch));
  }
}

// Each batch holds exactly preprocess_image() of its images, zeros after
// them, and their labels.
void expect_batches_match_dataset(const Dataset& dataset, const PreprocessSpec& spec, int64_t batch_size,
                                  const std::vector<Batch>& batches) {
  auto size = first_image_size(dataset, spec);
  ASSERT_TRUE(size.ok()) << size.status().message();
  const int64_t image_floats = size->channels * size->height * size->width;
  ASSERT_EQ(static_cast<int64_t>(batches.size()), (dataset.size() + batch_size - 1) / batch_size);
  for (size_t i = 0; i < batches.size(); ++i) {
    const Batch& batch = batches[i];
    const int64_t first = static_cast<int64_t>(i) * batch_size;
    ASSERT_EQ(batch.first, first);
    ASSERT_EQ(batch.count, std::min(batch_size, dataset.size() - first));
    ASSERT_EQ(batch.input.dtype(), DType::kFloat32);
    ASSERT_EQ(batch.input.shape(), preprocessed_batch_shape(spec, *size, batch_size));
    ASSERT_EQ(static_cast<int64_t>(batch.labels.size()), batch.count);
    for (int64_t row = 0; row < batch_size; ++row) {
      const float* got = batch.input.data<float>() + row * image_floats;
      std::vector<float> expected(static_cast<size_t>(image_floats), 0.0f);
      if (row < batch.count) {
        auto example = dataset.get(first + row);
        ASSERT_TRUE(example.ok()) << example.status().message();
        ASSERT_TRUE(preprocess_image(spec, example->image, expected.data()).ok());
        EXPECT_EQ(batch.labels[static_cast<size_t>(row)], example->label) << "image " << first + row;
      }
      for (int64_t j = 0; j < image_floats; ++j) {
        ASSERT_EQ(got[j], expected[static_cast<size_t>(j)]) << "image " << first + row << " float " << j;
      }
    }
  }
}

void expect_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].count, b[i].count);
    EXPECT_EQ(a[i].labels, b[i].labels);
    ASSERT_EQ(a[i].input.shape(), b[i].input.shape());
    EXPECT_EQ(std::memcmp(a[i].input.raw_data(), b[i].input.raw_data(), a[i].input.nbytes()), 0) << "batch " << i;
  }
}

void expect_error(const Status& status, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(status.ok());
  for (const auto& fragment : fragments) {
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  }
}

TEST(BatchLoader, BatchesComeInOrderWithImagesAndLabels) {
  const std::string dir = scratch_dir();
  auto dataset = write_folder(dir, 7);
  ASSERT_TRUE(dataset);
  const PreprocessSpec spec = grey_spec();
  std::vector<Batch> batches;
  ASSERT_TRUE(load_all(*dataset, spec, 3, 1, 2, batches).ok());
  expect_batches_match_dataset(*dataset, spec, 3, batches);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].count, 1);  // 7 = 3 + 3 + 1
  EXPECT_EQ(batches[1].labels, (std::vector<int64_t>{9, 2, 5}));
}

TEST(BatchLoader, PartialLastBatchIsPaddedWithZeros) {
  auto dataset = open_fashion_mnist(10);
  ASSERT_TRUE(dataset);
  auto spec = read_preprocess_file(source_path("models/fmnist_cnn.preprocess.json"));
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  std::vector<Batch> batches;
  ASSERT_TRUE(load_all(*dataset, *spec, 4, 1, 2, batches).ok());
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].count, 2);
  EXPECT_EQ(batches[0].labels[0], 9);  // the first test image is an ankle boot
  // The spec subtracts a mean, so a real image row is never all zeros.
  const int64_t image_floats = 28 * 28;
  const float* last = batches[2].input.data<float>();
  EXPECT_NE(std::count(last, last + 2 * image_floats, 0.0f), 2 * image_floats);
  EXPECT_EQ(std::count(last + 2 * image_floats, last + 4 * image_floats, 0.0f), 2 * image_floats);
  expect_batches_match_dataset(*dataset, *spec, 4, batches);
}

TEST(BatchLoader, SeveralWorkersGiveTheSameBatchesAsOne) {
  auto idx = open_fashion_mnist(100);
  ASSERT_TRUE(idx);
  auto spec = read_preprocess_file(source_path("models/fmnist_cnn.preprocess.json"));
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  std::vector<Batch> one, several;
  ASSERT_TRUE(load_all(*idx, *spec, 7, 1, 2, one).ok());
  expect_batches_match_dataset(*idx, *spec, 7, one);
  for (const auto& [workers, prefetch] : std::vector<std::pair<int, int>>{{2, 1}, {4, 2}, {3, 8}}) {
    SCOPED_TRACE(::testing::Message() << workers << " workers, prefetch " << prefetch);
    ASSERT_TRUE(load_all(*idx, *spec, 7, workers, prefetch, several).ok());
    expect_same_batches(one, several);
  }
  // PNG decoding on several threads at once.
  const std::string dir = scratch_dir();
  auto folder = write_folder(dir, 25);
  ASSERT_TRUE(folder);
  ASSERT_TRUE(load_all(*folder, grey_spec(), 2, 1, 2, one).ok());
  ASSERT_TRUE(load_all(*folder, grey_spec(), 2, 4, 3, several).ok());
  expect_same_batches(one, several);
  expect_batches_match_dataset(*folder, grey_spec(), 2, several);
}

TEST(BatchLoader, BadImageFailsAtItsBatchAfterTheGoodOnes) {
  const std::string dir = scratch_dir();
  auto good = write_folder(dir, 10);
  ASSERT_TRUE(good);
  std::ofstream(dir + "/" + image_name(5)) << "not a PNG file";  // in batch 2 of 2-image batches
  auto dataset = open_image_folder(dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  const PreprocessSpec spec = grey_spec();
  for (int workers : {1, 3}) {
    SCOPED_TRACE(::testing::Message() << workers << " workers");
    auto size = first_image_size(**dataset, spec);
    ASSERT_TRUE(size.ok());
    auto loader = BatchLoader::create(**dataset, spec, *size, (*dataset)->size(), 2, workers);
    ASSERT_TRUE(loader.ok()) << loader.status().message();
    for (int64_t batch = 0; batch < 2; ++batch) {
      auto next = (*loader)->next();
      ASSERT_TRUE(next.ok()) << next.status().message();
      ASSERT_TRUE(next->has_value());
      EXPECT_EQ((*next)->first, 2 * batch);
    }
    auto failed = (*loader)->next();
    expect_error(failed.status(), {image_name(5), "cannot decode"});
    // The error comes once; the loader then has nothing more.
    auto after = (*loader)->next();
    ASSERT_TRUE(after.ok());
    EXPECT_FALSE(after->has_value());
  }
}

TEST(BatchLoader, ImageOfAnotherSizeIsAnErrorNamingIt) {
  const std::string dir = scratch_dir();
  auto good = write_folder(dir, 4);
  ASSERT_TRUE(good);
  ASSERT_TRUE(write_png(dir + "/" + image_name(2), pattern_image(kHeight + 1, kWidth, 1, 0)));
  auto dataset = open_image_folder(dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  std::vector<Batch> batches;
  expect_error(load_all(**dataset, grey_spec(), 1, 2, 2, batches),
               {image_name(2), "preprocesses to [1,1,7,5]", "the first image to [1,1,6,5]"});
  EXPECT_EQ(batches.size(), 2u);
}

TEST(BatchLoader, FirstImageSizeNamesTheImage) {
  const std::string dir = scratch_dir();
  ASSERT_TRUE(write_png(dir + "/colour.png", pattern_image(kHeight, kWidth, 3, 1)));
  std::ofstream(dir + "/labels.txt") << "colour.png 0\n";
  auto dataset = open_image_folder(dir);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  expect_error(first_image_size(**dataset, grey_spec()).status(), {"colour.png"});
  PreprocessSpec rgb = grey_spec();
  rgb.color = "rgb";
  auto size = first_image_size(**dataset, rgb);
  ASSERT_TRUE(size.ok()) << size.status().message();
  EXPECT_EQ(*size, (PreprocessedSize{3, kHeight, kWidth}));
}

TEST(BatchLoader, BadArgumentsAreErrors) {
  auto dataset = open_fashion_mnist(10);
  ASSERT_TRUE(dataset);
  const PreprocessedSize size{1, 28, 28};
  const PreprocessSpec spec;
  expect_error(BatchLoader::create(*dataset, spec, size, 11, 4).status(),
               {"cannot load 11 images", "the dataset has only 10"});
  expect_error(BatchLoader::create(*dataset, spec, size, -1, 4).status(), {"image count", "-1"});
  expect_error(BatchLoader::create(*dataset, spec, size, 10, 0).status(), {"batch size", "0"});
  expect_error(BatchLoader::create(*dataset, spec, size, 10, 4, 0).status(), {"workers", "0"});
  expect_error(BatchLoader::create(*dataset, spec, size, 10, 4, 1, 0).status(), {"prefetch", "0"});
  auto nothing = BatchLoader::create(*dataset, spec, size, 0, 4);
  ASSERT_TRUE(nothing.ok()) << nothing.status().message();
  auto next = (*nothing)->next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

TEST(BatchLoader, DestroyingMidwayStopsTheWorkers) {
  auto dataset = open_fashion_mnist(1000);
  ASSERT_TRUE(dataset);
  auto spec = read_preprocess_file(source_path("models/fmnist_cnn.preprocess.json"));
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  const PreprocessedSize size{1, 28, 28};
  for (int workers : {1, 4}) {
    for (int taken : {0, 1, 3}) {
      auto loader = BatchLoader::create(*dataset, *spec, size, dataset->size(), 8, workers, 4);
      ASSERT_TRUE(loader.ok()) << loader.status().message();
      for (int i = 0; i < taken; ++i) {
        auto next = (*loader)->next();
        ASSERT_TRUE(next.ok() && next->has_value());
      }
    }  // the loader is destroyed here, with workers waiting or mid-batch
  }
}

TEST(ProgressBar, DisabledPrintsNothing) {
  ::testing::internal::CaptureStderr();
  {
    ProgressBar bar("eval", 4, false);
    bar.update(2);
    bar.update(4);
    bar.finish();
  }
  {
    ProgressBar unfinished("eval", 4, false);
    unfinished.update(1);
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST(ProgressBar, EnabledDrawsOneLineInPlace) {
  ::testing::internal::CaptureStderr();
  {
    ProgressBar bar("eval", 4, true);
    bar.update(4);
    bar.finish();
    bar.finish();  // once only
  }
  const std::string out = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front(), '\r');
  EXPECT_NE(out.find("eval [##############################] 4/4 images, "), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_EQ(out.back(), '\n');
  // A bar left unfinished (the loop failed) still ends its line.
  ::testing::internal::CaptureStderr();
  { ProgressBar(std::string("eval"), 4, true).update(1); }
  const std::string unfinished = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(unfinished.back(), '\n') << unfinished;
}

TEST(ProgressBar, LineShowsBarCountRateAndEta) {
  EXPECT_EQ(progress_line("eval", 256, 512, 2.0),
            "eval [###############...............] 256/512 images, 128.0 images/s, ETA 2 s");
  EXPECT_EQ(progress_line("", 0, 10, 0.0), "[..............................] 0/10 images, 0.0 images/s, ETA ?");
  EXPECT_NE(progress_line("x", 1, 1000, 1.0).find("1/1000 images, 1.0 images/s, ETA 16 min 39 s"), std::string::npos);
  EXPECT_NE(progress_line("x", 1, 10000, 1.0).find("ETA 2 h 46 min"), std::string::npos);
}

}  // namespace
}  // namespace kestrel::testing
