// Decoding PNG and JPEG files into 8-bit pixels (stb_image from libstb-dev).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace kestrel {

// Limits on what is decoded, checked from the file's header before any pixel
// is decoded: a vision model's input is far smaller, and a decoded image must
// fit in memory several times over (float copies while preprocessing). A
// 64-megapixel RGB image decodes to 192 MiB and preprocesses to 768 MiB of floats.
inline constexpr int64_t kMaxImageSide = 16384;                  // pixels per side
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;     // 64 Mi pixels (8192 x 8192)
inline constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;  // 1 GiB

// An 8-bit image in HxWxC order (interleaved channels), C = 1 (grey) or
// 3 (RGB). Alpha is dropped on decoding: models take no transparency.
struct Image {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels bytes
};

// Decodes a PNG or JPEG file (a regular file, not a FIFO, device or folder);
// errors name the file and the reason.
StatusOr<Image> decode_image_file(const std::string& path);

// Decodes PNG or JPEG bytes; `label` names the source in errors. Images over
// the limits above are refused before decoding; a PNG must have correct
// chunk CRCs and zlib Adler-32 (stb_image checks neither), and a JPEG its
// end-of-image marker, so a damaged or truncated file is an error rather
// than wrong pixels.
StatusOr<Image> decode_image(const uint8_t* data, size_t size, const std::string& label);

// True for the extensions image folders are scanned for: .png, .jpg, .jpeg
// in any letter case.
bool is_image_file_name(const std::string& path);

}  // namespace kestrel
