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
#include "kernels/image_preprocess.h"

namespace kestrel {

// The spec itself and what it does to pixels (PreprocessSpec,
// preprocessed_size, preprocess_image on raw pixels) are in
// kernels/image_preprocess.h; the limits it names are the decoder's.
static_assert(kMaxPreprocessSide == kMaxImageSide && kMaxPreprocessPixels == kMaxImagePixels);

// A spec is also an error when it names a key twice, a number outside
// float32's range, a std that is not positive or a scale that is not
// positive.
StatusOr<PreprocessSpec> parse_preprocess_json(const std::string& text, const std::string& label);
StatusOr<PreprocessSpec> read_preprocess_file(const std::string& path);

// Turns an image into preprocessed_size() values of preprocessed_dtype()
// (float32 in the spec's layout, or a baked model's uint8 frame) at `dst`.
Status preprocess_image(const PreprocessSpec& spec, const Image& image, void* dst);

// Turns a grey uint8 image [H, W] into float32 [C, H', W'] written at `dst`
// (the spec must suit a grey image: preprocessed_size() says whether it does;
// when it does not, nothing is written).
void preprocess_grey_image(const PreprocessSpec& spec, const uint8_t* src, int64_t height, int64_t width, float* dst);

}  // namespace kestrel
