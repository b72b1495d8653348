#include "io/image.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

// The one place stb_image's implementation is compiled. Only the two formats
// Kestrel reads are enabled, which keeps the untrusted-input surface small;
// the library reads files itself so that I/O errors name the file.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace kestrel {
namespace {

// A decoded image must fit in memory several times over (float copies during
// preprocessing); 2^28 pixels is far beyond any vision model's input.
constexpr int64_t kMaxPixels = int64_t{1} << 28;

using StbPixels = std::unique_ptr<stbi_uc, decltype(&stbi_image_free)>;

}  // namespace

StatusOr<Image> decode_image(const uint8_t* data, size_t size, const std::string& label) {
  if (size == 0) return data_loss(label, ": cannot decode: empty file");
  if (size > static_cast<size_t>(INT32_MAX)) return unimplemented(label, ": cannot decode: file is larger than 2 GiB");
  const int length = static_cast<int>(size);
  int width = 0, height = 0, file_channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &file_channels)) {
    return data_loss(label, ": cannot decode: ", stbi_failure_reason());
  }
  if (static_cast<int64_t>(width) * height > kMaxPixels) {
    return unimplemented(label, ": cannot decode: ", width, "x", height, " pixels is too large");
  }
  // Grey+alpha decodes as grey and RGBA as RGB: stb converts while decoding.
  const int channels = file_channels <= 2 ? 1 : 3;
  StbPixels pixels(stbi_load_from_memory(data, length, &width, &height, &file_channels, channels), stbi_image_free);
  if (!pixels) return data_loss(label, ": cannot decode: ", stbi_failure_reason());
  Image image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels.assign(pixels.get(), pixels.get() + image.height * image.width * channels);
  return image;
}

StatusOr<Image> decode_image_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found(path, ": cannot open file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) return data_loss(path, ": cannot read file");
  return decode_image(bytes.data(), bytes.size(), path);
}

bool is_image_file_name(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg";
}

}  // namespace kestrel
