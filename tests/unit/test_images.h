// Small PNG and JPEG files for the image and dataset tests (stb_image_write).
#pragma once

#include <string>

#include "io/image.h"

namespace kestrel::testing {

bool write_png(const std::string& path, const Image& image);
bool write_jpeg(const std::string& path, const Image& image, int quality = 95);

// A deterministic HxWxC test pattern; `seed` makes images differ.
Image pattern_image(int64_t height, int64_t width, int64_t channels, int seed);

}  // namespace kestrel::testing
