// Image preprocessing described by a JSON spec (docs/preprocessing.md):
//   {"resize": {"size": [224, 224], "mode": "bilinear"} | null,
//    "color": "grey" | "rgb" | "bgr", "scale": 0.0039215686,
//    "mean": [...], "std": [...], "layout": "NCHW"}
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "ir/tensor.h"

namespace kestrel {

struct PreprocessSpec {
  int64_t resize_height = 0;  // 0: keep the image size
  int64_t resize_width = 0;
  std::string resize_mode = "bilinear";  // or "nearest"
  std::string color = "grey";            // output channels: grey = 1, rgb/bgr = 3
  float scale = 1.0f;
  std::vector<float> mean = {0.0f};
  std::vector<float> std = {1.0f};
};

StatusOr<PreprocessSpec> parse_preprocess_json(const std::string& text, const std::string& label);
StatusOr<PreprocessSpec> read_preprocess_file(const std::string& path);

int64_t output_channels(const PreprocessSpec& spec);

// Turns a grey uint8 image [H, W] into float32 [C, H', W'] written at `dst`.
void preprocess_grey_image(const PreprocessSpec& spec, const uint8_t* src, int64_t height, int64_t width,
                           float* dst);

}  // namespace kestrel
