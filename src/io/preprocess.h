// Image preprocessing described by a JSON spec (docs/preprocessing.md):
//   {"resize": {"size": [224, 224]} | {"shorter_side": 256} | null,
//    "center_crop": [224, 224] | null,
//    "color": "grey" | "rgb" | "bgr", "scale": 0.0039215686,
//    "mean": [...], "std": [...], "layout": "NCHW" | "NHWC"}
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "io/image.h"
#include "ir/tensor.h"

namespace kestrel {

// Limits on the sizes a spec may name (resize.size, resize.shorter_side,
// center_crop) and on the resized image, checked when the spec is read and
// before anything is allocated for an image: the same as the decoder's
// (kMaxImageSide, kMaxImagePixels), far beyond any vision model's input.
inline constexpr int64_t kMaxPreprocessSide = kMaxImageSide;
inline constexpr int64_t kMaxPreprocessPixels = kMaxImagePixels;

// A spec is also an error when it names a key twice, a number outside
// float32's range, a std that is not positive or a scale that is not
// positive.
struct PreprocessSpec {
  int64_t resize_height = 0;  // 0: keep the image size (unless resize_shorter_side)
  int64_t resize_width = 0;
  int64_t resize_shorter_side = 0;       // 0: off; else the shorter side becomes this, keeping the aspect ratio
  std::string resize_mode = "bilinear";  // or "nearest"
  int64_t crop_height = 0;               // 0: no center crop
  int64_t crop_width = 0;
  std::string color = "grey";  // output channels: grey = 1, rgb/bgr = 3
  float scale = 1.0f;
  std::vector<float> mean = {0.0f};
  std::vector<float> std = {1.0f};
  std::string layout = "NCHW";  // or "NHWC"
};

StatusOr<PreprocessSpec> parse_preprocess_json(const std::string& text, const std::string& label);
StatusOr<PreprocessSpec> read_preprocess_file(const std::string& path);

int64_t output_channels(const PreprocessSpec& spec);

// The size of one preprocessed image.
struct PreprocessedSize {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  bool operator==(const PreprocessedSize&) const = default;
};

// What an HxWxC image becomes; an error when the spec cannot use the image
// (a colour image for a grey model, a crop larger than the resized image).
StatusOr<PreprocessedSize> preprocessed_size(const PreprocessSpec& spec, int64_t height, int64_t width,
                                             int64_t channels);

// The model input for `batch` such images: [N,C,H,W] or [N,H,W,C].
Shape preprocessed_batch_shape(const PreprocessSpec& spec, const PreprocessedSize& size, int64_t batch);

// Turns an image into float32 of preprocessed_size() in the spec's layout,
// written at `dst`.
Status preprocess_image(const PreprocessSpec& spec, const Image& image, float* dst);
Status preprocess_image(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                        int64_t channels, float* dst);

// Turns a grey uint8 image [H, W] into float32 [C, H', W'] written at `dst`
// (the spec must suit a grey image: preprocessed_size() says whether it does;
// when it does not, nothing is written).
void preprocess_grey_image(const PreprocessSpec& spec, const uint8_t* src, int64_t height, int64_t width, float* dst);

}  // namespace kestrel
