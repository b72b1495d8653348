// kestrel_preprocess_image: the same floats as the library's own pipeline,
// the size query, and its errors.
#include <gtest/gtest.h>

#include <kestrel/kestrel.h>

#include <string>
#include <vector>

#include "io/image.h"
#include "io/preprocess.h"
#include "test_images.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

TEST(CApiImage, MatchesTheLibraryPipeline) {
  const std::string spec_path = source_path("models/rgb224.preprocess.json");
  const std::string png = scratch_dir() + "/grey.png";
  const Image image = pattern_image(28, 28, 1, 3);
  ASSERT_TRUE(write_png(png, image));

  int64_t dims[3] = {0, 0, 0};
  ASSERT_EQ(kestrel_preprocess_image(spec_path.c_str(), png.c_str(), nullptr, 0, dims), KESTREL_OK)
      << kestrel_last_error();
  EXPECT_EQ(std::vector<int64_t>(dims, dims + 3), (std::vector<int64_t>{3, 224, 224}));

  std::vector<float> actual(3 * 224 * 224);
  ASSERT_EQ(
      kestrel_preprocess_image(spec_path.c_str(), png.c_str(), actual.data(), actual.size() * sizeof(float), dims),
      KESTREL_OK)
      << kestrel_last_error();
  auto spec = read_preprocess_file(spec_path);
  ASSERT_TRUE(spec.ok());
  std::vector<float> expected(actual.size());
  ASSERT_TRUE(preprocess_image(*spec, image, expected.data()).ok());
  EXPECT_EQ(actual, expected);

  EXPECT_EQ(kestrel_preprocess_image(spec_path.c_str(), png.c_str(), actual.data(), 100, dims),
            KESTREL_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kestrel_last_error()).find("[1,3,224,224]"), std::string::npos) << kestrel_last_error();
  EXPECT_EQ(kestrel_preprocess_image(spec_path.c_str(), (png + ".missing").c_str(), actual.data(),
                                     actual.size() * sizeof(float), dims),
            KESTREL_NOT_FOUND);
  EXPECT_NE(std::string(kestrel_last_error()).find("grey.png.missing"), std::string::npos) << kestrel_last_error();
  EXPECT_EQ(kestrel_preprocess_image(nullptr, png.c_str(), actual.data(), 0, dims), KESTREL_INVALID_ARGUMENT);
  EXPECT_EQ(kestrel_preprocess_image(spec_path.c_str(), png.c_str(), nullptr, 0, nullptr), KESTREL_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace kestrel::testing
