// Checks of a PNG file that stb_image does not make: every chunk's CRC-32,
// the zlib stream's Adler-32 and that the image data inflates to exactly
// the size the header implies. Without them a damaged file decodes to
// silently wrong pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace kestrel {

struct PngHeader {
  int64_t width = 0;
  int64_t height = 0;
  int bit_depth = 0;
  int color_type = 0;
  bool interlaced = false;
};

bool has_png_signature(const uint8_t* data, size_t size);

// Parses the IHDR chunk (it must be first, and its CRC right) without
// looking further: cheap, so the size can be checked before anything else.
StatusOr<PngHeader> read_png_header(const uint8_t* data, size_t size, const std::string& label);

// Walks every chunk up to IEND, checking CRCs, and inflates the IDAT data
// (into a small scratch buffer) to check its Adler-32 and its length.
Status check_png_integrity(const uint8_t* data, size_t size, const PngHeader& header, const std::string& label);

}  // namespace kestrel
