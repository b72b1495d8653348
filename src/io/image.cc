#include "io/image.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "base/regular_file.h"
#include "io/png_check.h"

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

using StbPixels = std::unique_ptr<stbi_uc, decltype(&stbi_image_free)>;

Status check_image_size(int64_t width, int64_t height, const std::string& label) {
  if (width > kMaxImageSide || height > kMaxImageSide || width * height > kMaxImagePixels) {
    return invalid_argument(label, ": image is ", width, " pixels wide and ", height, " high, larger than the limit of ",
                            kMaxImageSide, " pixels per side and ", kMaxImagePixels, " pixels in all");
  }
  return {};
}

// stb_image decodes a JPEG cut short as if the missing data were zeros. A
// complete file has an end-of-image marker after its first scan: the
// entropy-coded data cannot hold one (0xFF bytes in it are stuffed), and
// whatever follows EOI (some cameras append data) is allowed.
Status check_jpeg_complete(const uint8_t* data, size_t size, const std::string& label) {
  constexpr uint8_t kMarker = 0xff, kStartOfScan = 0xda, kEndOfImage = 0xd9;
  size_t at = 2;  // after SOI
  for (;;) {
    while (at < size && data[at] == kMarker && at + 1 < size && data[at + 1] == kMarker) ++at;  // fill bytes
    if (at + 4 > size || data[at] != kMarker) return data_loss(label, ": damaged or truncated JPEG: bad marker at byte ", at);
    const uint8_t marker = data[at + 1];
    const size_t length = (size_t{data[at + 2]} << 8) | data[at + 3];
    if (length < 2) return data_loss(label, ": damaged JPEG: bad segment length at byte ", at);
    at += 2 + length;
    if (marker == kStartOfScan) break;
    if (at > size) return data_loss(label, ": truncated JPEG: a segment is cut off");
  }
  for (size_t i = std::min(at, size); i + 1 < size; ++i) {
    if (data[i] == kMarker && data[i + 1] == kEndOfImage) return {};
  }
  return data_loss(label, ": truncated JPEG: no end-of-image marker after the image data");
}

// The PNG checks stb_image skips, and the size, before decoding.
Status check_before_decoding(const uint8_t* data, int length, const std::string& label) {
  if (has_png_signature(data, static_cast<size_t>(length))) {
    KESTREL_ASSIGN_OR_RETURN(const PngHeader header, read_png_header(data, static_cast<size_t>(length), label));
    KESTREL_RETURN_IF_ERROR(check_image_size(header.width, header.height, label));
    return check_png_integrity(data, static_cast<size_t>(length), header, label);
  }
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &channels)) {
    return data_loss(label, ": cannot decode: ", stbi_failure_reason());
  }
  KESTREL_RETURN_IF_ERROR(check_image_size(width, height, label));
  return check_jpeg_complete(data, static_cast<size_t>(length), label);
}

}  // namespace

StatusOr<Image> decode_image(const uint8_t* data, size_t size, const std::string& label) {
  if (size == 0) return data_loss(label, ": cannot decode: empty file");
  if (size > static_cast<size_t>(kMaxImageFileBytes)) {
    return unimplemented(label, ": cannot decode: ", size, " bytes is larger than the limit of ", kMaxImageFileBytes);
  }
  const int length = static_cast<int>(size);
  KESTREL_RETURN_IF_ERROR(check_before_decoding(data, length, label));
  int width = 0, height = 0, file_channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &file_channels)) {
    return data_loss(label, ": cannot decode: ", stbi_failure_reason());
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
  KESTREL_ASSIGN_OR_RETURN(const std::string bytes, read_regular_file(path, kMaxImageFileBytes));
  return decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
}

bool is_image_file_name(const std::string& path) {
  std::string extension = std::filesystem::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg";
}

}  // namespace kestrel
