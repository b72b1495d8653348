// Decoding PNG and JPEG files into 8-bit pixels (stb_image from libstb-dev).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace kestrel {

// An 8-bit image in HxWxC order (interleaved channels), C = 1 (grey) or
// 3 (RGB). Alpha is dropped on decoding: models take no transparency.
struct Image {
  int64_t height = 0;
  int64_t width = 0;
  int64_t channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels bytes
};

// Decodes a PNG or JPEG file; errors name the file and the decoder's reason.
StatusOr<Image> decode_image_file(const std::string& path);

// Decodes PNG or JPEG bytes; `label` names the source in errors.
StatusOr<Image> decode_image(const uint8_t* data, size_t size, const std::string& label);

// True for the extensions image folders are scanned for: .png, .jpg, .jpeg
// in any letter case.
bool is_image_file_name(const std::string& path);

}  // namespace kestrel
