#include "test_images.h"

// The test binary's one copy of stb_image_write (the library only decodes).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace kestrel::testing {

bool write_png(const std::string& path, const Image& image) {
  return stbi_write_png(path.c_str(), static_cast<int>(image.width), static_cast<int>(image.height),
                        static_cast<int>(image.channels), image.pixels.data(),
                        static_cast<int>(image.width * image.channels)) != 0;
}

bool write_jpeg(const std::string& path, const Image& image, int quality) {
  return stbi_write_jpg(path.c_str(), static_cast<int>(image.width), static_cast<int>(image.height),
                        static_cast<int>(image.channels), image.pixels.data(), quality) != 0;
}

Image pattern_image(int64_t height, int64_t width, int64_t channels, int seed) {
  Image image{height, width, channels, std::vector<uint8_t>(static_cast<size_t>(height * width * channels))};
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 7 + seed * 31) % 256);
  return image;
}

}  // namespace kestrel::testing
