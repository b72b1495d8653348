// Preprocessing against PyTorch: tests/data/preprocess/make_reference.py ran
// F.interpolate(mode="bilinear", align_corners=False, antialias=False) and the
// rest of the pipeline on the committed inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "io/npy.h"
#include "io/preprocess.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

constexpr float kMaxAbsDiff = 1e-5f;

void expect_matches_reference(const std::string& name) {
  const std::string base = source_path("tests/data/preprocess/" + name);
  KESTREL_REQUIRE_FILE(base + ".json");
  auto spec = read_preprocess_file(base + ".json");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  auto input = read_npy(base + "_input.npy");
  auto expected = read_npy(base + "_expected.npy");
  ASSERT_TRUE(input.ok()) << input.status().message();
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  ASSERT_EQ(input->rank(), 3);
  const int64_t height = input->dim(0), width = input->dim(1), channels = input->dim(2);
  auto size = preprocessed_size(*spec, height, width, channels);
  ASSERT_TRUE(size.ok()) << size.status().message();
  Shape shape = preprocessed_batch_shape(*spec, *size, 1);
  shape.erase(shape.begin());
  ASSERT_EQ(shape, expected->shape()) << name;
  std::vector<float> output(static_cast<size_t>(expected->size()), NAN);
  ASSERT_TRUE(preprocess_image(*spec, input->data<uint8_t>(), height, width, channels, output.data()).ok());
  float max_diff = 0;
  int64_t bad = 0;  // written as a count so that a NaN (a pixel never written) fails too
  for (int64_t i = 0; i < expected->size(); ++i) {
    const float diff = std::abs(output[static_cast<size_t>(i)] - expected->data<float>()[i]);
    bad += !(diff <= kMaxAbsDiff);
    if (diff > max_diff) max_diff = diff;
  }
  EXPECT_EQ(bad, 0) << name << ": max abs diff " << max_diff;
}

TEST(Preprocess, GreyUpsampleMatchesPyTorch) { expect_matches_reference("grey28_to_224"); }
TEST(Preprocess, RgbDownsampleMatchesPyTorch) { expect_matches_reference("rgb37x53_to_64x48"); }
TEST(Preprocess, ShorterSideCropBgrNhwcMatchesPyTorch) {
  expect_matches_reference("rgb37x53_short48_crop41x43_bgr_nhwc");
}

PreprocessSpec parse(const std::string& json) {
  auto spec = parse_preprocess_json(json, "spec.json");
  KESTREL_CHECK_OK(spec);
  return spec.ok() ? *spec : PreprocessSpec{};
}

TEST(Preprocess, GreyReplicatesIntoRgbInEitherLayout) {
  const uint8_t pixels[] = {0, 10, 20, 30, 40, 50};  // 2x3 grey
  for (const char* layout : {"NCHW", "NHWC"}) {
    const auto spec = parse(std::string(R"({"color": "rgb", "mean": [0, 1, 2], "layout": ")") + layout + "\"}");
    std::vector<float> out(18);
    ASSERT_TRUE(preprocess_image(spec, pixels, 2, 3, 1, out.data()).ok());
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t i = 0; i < 6; ++i) {
        const int64_t at = std::string(layout) == "NHWC" ? i * 3 + c : c * 6 + i;
        EXPECT_EQ(out[static_cast<size_t>(at)], pixels[i] - static_cast<float>(c))
            << layout << " c=" << c << " i=" << i;
      }
    }
  }
}

TEST(Preprocess, ShorterSideKeepsAspectRatioAndCropRounds) {
  const auto spec = parse(R"({"resize": {"shorter_side": 256}, "center_crop": [224, 224], "color": "rgb"})");
  auto tall = preprocessed_size(spec, 480, 360, 3);  // -> 341x256
  ASSERT_TRUE(tall.ok()) << tall.status().message();
  EXPECT_EQ(*tall, (PreprocessedSize{3, 224, 224}));
  EXPECT_EQ(preprocessed_batch_shape(parse(R"({"layout": "NHWC"})"), {1, 5, 7}, 2), (Shape{2, 5, 7, 1}));
}

TEST(Preprocess, RejectsImagesTheSpecCannotUse) {
  const auto grey = parse("{}");
  auto colour = preprocessed_size(grey, 4, 4, 3);
  ASSERT_FALSE(colour.ok());
  EXPECT_NE(colour.status().message().find("color 'grey'"), std::string::npos) << colour.status().message();
  EXPECT_FALSE(preprocessed_size(grey, 4, 4, 2).ok());
  auto crop = preprocessed_size(parse(R"({"center_crop": [8, 8]})"), 4, 16, 1);
  ASSERT_FALSE(crop.ok());
  EXPECT_NE(crop.status().message().find("center_crop"), std::string::npos) << crop.status().message();
  std::vector<float> out(64);
  EXPECT_FALSE(preprocess_image(grey, std::vector<uint8_t>(48).data(), 4, 4, 3, out.data()).ok());
}

TEST(Preprocess, RejectsBadSpecs) {
  for (const char* json : {R"({"resize": {"size": [2, 2], "shorter_side": 2}})", R"({"resize": {"shorter": 2}})",
                           R"({"resize": {"shorter_side": 0}})", R"({"center_crop": [2]})", R"({"layout": "CHW"})",
                           R"({"color": "rgb", "mean": [1, 2]})", R"({"resize": "big"})"}) {
    EXPECT_FALSE(parse_preprocess_json(json, "spec.json").ok()) << json;
  }
}

}  // namespace
}  // namespace kestrel::testing
