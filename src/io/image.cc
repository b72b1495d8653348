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
    return invalid_argument(label, ": image is ", width, " pixels wide and ", height,
                            " high, larger than the limit of ", kMaxImageSide, " pixels per side and ", kMaxImagePixels,
                            " pixels in all");
  }
  return {};
}

constexpr uint8_t kJpegMarker = 0xff;
constexpr uint8_t kJpegEndOfImage = 0xd9;
constexpr uint8_t kJpegHuffmanTable = 0xc4;
constexpr size_t kMaxHuffmanCodes = 256;

bool is_jpeg_restart(uint8_t marker) { return marker >= 0xd0 && marker <= 0xd7; }

// A DHT segment's tables. Debian's stb_image (libstb-dev 0.0~git20220908)
// does not check that a table's 16 code counts sum to at most 256 and writes
// past its arrays (tests/fuzz/regressions/image_fuzzer/), so they are
// checked here before stb sees the file.
Status check_huffman_tables(const uint8_t* table, size_t length, size_t offset, const std::string& label) {
  while (length > 0) {
    if (length < 17)
      return data_loss(label, ": cannot decode: damaged JPEG: Huffman table (DHT) at byte ", offset, " is cut short");
    if ((table[0] >> 4) > 1 || (table[0] & 0x0f) > 3) {
      return data_loss(label, ": cannot decode: damaged JPEG: Huffman table (DHT) at byte ", offset,
                       " has a bad class or id");
    }
    size_t codes = 0;
    for (int bits = 1; bits <= 16; ++bits) codes += table[bits];
    if (codes > kMaxHuffmanCodes) {
      return data_loss(label, ": cannot decode: damaged JPEG: Huffman table (DHT) at byte ", offset, " declares ",
                       codes, " codes, more than ", kMaxHuffmanCodes);
    }
    if (17 + codes > length)
      return data_loss(label, ": cannot decode: damaged JPEG: Huffman table (DHT) at byte ", offset, " is cut short");
    table += 17 + codes;
    length -= 17 + codes;
  }
  return {};
}

// Walks a JPEG's marker segments from `start`, just after SOI (those between scans too), checking the
// Huffman tables; true when it reaches the end-of-image marker, false when
// the data ends first (stb_image decodes a JPEG cut short as if the missing
// data were zeros). Between segments it skips what stb_image skips:
// entropy-coded data (its 0xFF bytes are stuffed as 0xFF 0x00), restart
// markers, fill bytes and padding. Whatever follows EOI (some cameras
// append data) is allowed.
StatusOr<bool> walk_jpeg(const uint8_t* data, size_t size, size_t start, const std::string& label) {
  const auto is_marker = [&](size_t at) {
    const uint8_t next = data[at + 1];
    return data[at] == kJpegMarker && next != 0 && next != kJpegMarker && !is_jpeg_restart(next);
  };
  size_t at = start;  // after SOI
  for (;;) {
    while (at + 1 < size && !is_marker(at)) ++at;
    if (at + 1 >= size) return false;
    const uint8_t marker = data[at + 1];
    if (marker == kJpegEndOfImage) return true;
    if (at + 4 > size) return false;
    const size_t length = (size_t{data[at + 2]} << 8) | data[at + 3];
    if (length < 2) return data_loss(label, ": cannot decode: damaged JPEG: bad segment length at byte ", at);
    // stb_image reads a segment cut off by the end of the file as if zeros
    // followed, so a table in it is checked as far as it goes.
    const size_t available = std::min(length - 2, size - (at + 4));
    if (marker == kJpegHuffmanTable) KESTREL_RETURN_IF_ERROR(check_huffman_tables(data + at + 4, available, at, label));
    if (available < length - 2) {
      return data_loss(label, ": cannot decode: truncated JPEG: the segment at byte ", at,
                       " runs past the end of the file");
    }
    at += 2 + length;
  }
}

// The PNG and JPEG checks stb_image skips, and the size, before decoding.
Status check_before_decoding(const uint8_t* data, int length, const std::string& label) {
  if (has_png_signature(data, static_cast<size_t>(length))) {
    KESTREL_ASSIGN_OR_RETURN(const PngHeader header, read_png_header(data, static_cast<size_t>(length), label));
    KESTREL_RETURN_IF_ERROR(check_image_size(header.width, header.height, label));
    return check_png_integrity(data, static_cast<size_t>(length), header, label);
  }
  // stb_image takes a JPEG to start with 0xFF, any number of 0xFF fill
  // bytes, then SOI (0xD8): so does this check.
  size_t soi = 1;
  while (soi < static_cast<size_t>(length) && data[soi] == kJpegMarker) ++soi;
  const bool jpeg = length >= 2 && data[0] == kJpegMarker && soi < static_cast<size_t>(length) && data[soi] == 0xd8;
  bool complete = true;
  if (jpeg) {
    KESTREL_ASSIGN_OR_RETURN(complete, walk_jpeg(data, static_cast<size_t>(length), soi + 1, label));
  }
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &channels)) {
    return data_loss(label, ": cannot decode: ", stbi_failure_reason());
  }
  KESTREL_RETURN_IF_ERROR(check_image_size(width, height, label));
  if (!complete)
    return data_loss(label, ": cannot decode: truncated JPEG: the file ends before its end-of-image marker");
  return {};
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
