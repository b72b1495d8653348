#include "io/png_check.h"

#include <zlib.h>

#include <array>
#include <cstring>
#include <optional>
#include <string_view>

#include "base/checked_math.h"

namespace kestrel {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
constexpr size_t kChunkOverhead = 12;             // length, type, CRC
constexpr uint32_t kMaxChunkLength = 0x7fffffff;  // the PNG spec's limit
constexpr uint32_t kIhdrLength = 13;
constexpr size_t kScratchBytes = 64 * 1024;

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

struct Chunk {
  std::string_view type;  // four letters inside the file's bytes
  const uint8_t* data = nullptr;
  uint32_t length = 0;
};

// The chunk at `offset`, its CRC checked; `offset` moves past it.
StatusOr<Chunk> next_chunk(const uint8_t* data, size_t size, size_t& offset, const std::string& label) {
  if (size - offset < kChunkOverhead)
    return data_loss(label, ": cannot decode: truncated PNG: a chunk is cut off at byte ", offset);
  Chunk chunk;
  chunk.length = load_be32(data + offset);
  chunk.type = std::string_view(reinterpret_cast<const char*>(data + offset + 4), 4);
  for (char c : chunk.type) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
      return data_loss(label, ": cannot decode: damaged PNG: bad chunk type at byte ", offset);
    }
  }
  if (chunk.length > kMaxChunkLength || chunk.length > size - offset - kChunkOverhead) {
    return data_loss(label, ": cannot decode: truncated PNG: chunk ", chunk.type, " at byte ", offset, " claims ",
                     chunk.length, " bytes, the file has ", size - offset - kChunkOverhead);
  }
  chunk.data = data + offset + 8;
  const uint32_t stored = load_be32(chunk.data + chunk.length);
  const uLong computed = crc32(crc32(0L, Z_NULL, 0), data + offset + 4, chunk.length + 4);
  if (stored != static_cast<uint32_t>(computed)) {
    return data_loss(label, ": cannot decode: damaged PNG: CRC mismatch in chunk ", chunk.type, " at byte ", offset);
  }
  offset += kChunkOverhead + chunk.length;
  return chunk;
}

int samples_per_pixel(int color_type) {
  switch (color_type) {
    case 0: return 1;  // grey
    case 2: return 3;  // RGB
    case 3: return 1;  // palette index
    case 4: return 2;  // grey + alpha
    case 6: return 4;  // RGBA
    default: return 0;
  }
}

bool valid_bit_depth(int color_type, int depth) {
  switch (color_type) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

// Bytes of the filtered scanlines of a width x height (sub)image.
std::optional<int64_t> scanline_bytes(int64_t width, int64_t height, int64_t bits_per_pixel) {
  if (width == 0 || height == 0) return 0;
  const auto bits = checked_mul(width, bits_per_pixel);
  if (!bits) return std::nullopt;
  return checked_mul(height, 1 + (*bits + 7) / 8);  // one filter-type byte per row
}

// What the IDAT data must inflate to: the scanlines, or the seven Adam7 passes'.
std::optional<int64_t> inflated_size(const PngHeader& header) {
  const int64_t bpp = int64_t{header.bit_depth} * samples_per_pixel(header.color_type);
  if (!header.interlaced) return scanline_bytes(header.width, header.height, bpp);
  constexpr std::array<std::array<int64_t, 4>, 7> kPasses = {
      {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}};
  int64_t total = 0;
  for (const auto& [x0, y0, dx, dy] : kPasses) {
    const int64_t w = header.width > x0 ? (header.width - x0 + dx - 1) / dx : 0;
    const int64_t h = header.height > y0 ? (header.height - y0 + dy - 1) / dy : 0;
    const auto bytes = scanline_bytes(w, h, bpp);
    const auto sum = bytes ? checked_add(total, *bytes) : std::nullopt;
    if (!sum) return std::nullopt;
    total = *sum;
  }
  return total;
}

// Inflates IDAT pieces one by one, counting what comes out.
class IdatInflater {
 public:
  explicit IdatInflater(const std::string& label) : label_(label) {
    std::memset(&stream_, 0, sizeof(stream_));
    ok_ = inflateInit(&stream_) == Z_OK;
  }
  ~IdatInflater() {
    if (ok_) inflateEnd(&stream_);
  }
  IdatInflater(const IdatInflater&) = delete;
  IdatInflater& operator=(const IdatInflater&) = delete;

  Status feed(const uint8_t* data, uint32_t length, int64_t expected) {
    if (!ok_) return internal_error(label_, ": cannot start zlib");
    if (ended_) {
      if (length == 0) return {};
      return data_loss(label_, ": cannot decode: damaged PNG: image data continues after the end of its zlib stream");
    }
    stream_.next_in = const_cast<Bytef*>(data);
    stream_.avail_in = length;
    while (stream_.avail_in > 0 && !ended_) {
      stream_.next_out = scratch_.data();
      stream_.avail_out = static_cast<uInt>(scratch_.size());
      const int result = inflate(&stream_, Z_NO_FLUSH);
      inflated_ += static_cast<int64_t>(scratch_.size() - stream_.avail_out);
      if (inflated_ > expected) {
        return data_loss(label_, ": cannot decode: damaged PNG: image data inflates to more than the ", expected,
                         " bytes its header implies");
      }
      if (result == Z_STREAM_END) ended_ = true;
      else if (result == Z_BUF_ERROR) break;  // no progress possible (cannot happen with input and room left)
      else if (result == Z_DATA_ERROR && stream_.msg && std::strstr(stream_.msg, "incorrect data check")) {
        return data_loss(label_, ": cannot decode: damaged PNG: zlib Adler-32 checksum mismatch in the image data");
      } else if (result != Z_OK) {
        return data_loss(
            label_, ": cannot decode: damaged PNG: bad image data (zlib: ", stream_.msg ? stream_.msg : "error", ")");
      }
    }
    if (ended_ && stream_.avail_in > 0) {
      return data_loss(label_, ": cannot decode: damaged PNG: image data continues after the end of its zlib stream");
    }
    return {};
  }

  // A stream that ends finished the Adler-32 check inside inflate().
  Status finish(int64_t expected) const {
    if (!ended_) return data_loss(label_, ": cannot decode: truncated PNG: the image data's zlib stream does not end");
    if (inflated_ != expected) {
      return data_loss(label_, ": cannot decode: truncated PNG: image data inflates to ", inflated_,
                       " bytes, its header implies ", expected);
    }
    return {};
  }

 private:
  const std::string& label_;
  z_stream stream_;
  bool ok_ = false;
  bool ended_ = false;
  int64_t inflated_ = 0;
  std::array<uint8_t, kScratchBytes> scratch_{};
};

}  // namespace

bool has_png_signature(const uint8_t* data, size_t size) {
  return size >= sizeof(kSignature) && std::memcmp(data, kSignature, sizeof(kSignature)) == 0;
}

StatusOr<PngHeader> read_png_header(const uint8_t* data, size_t size, const std::string& label) {
  if (!has_png_signature(data, size)) return data_loss(label, ": cannot decode: not a PNG file");
  size_t offset = sizeof(kSignature);
  KESTREL_ASSIGN_OR_RETURN(const Chunk ihdr, next_chunk(data, size, offset, label));
  if (ihdr.type != "IHDR" || ihdr.length != kIhdrLength)
    return data_loss(label, ": cannot decode: damaged PNG: no IHDR chunk first");
  PngHeader header;
  header.width = load_be32(ihdr.data);
  header.height = load_be32(ihdr.data + 4);
  header.bit_depth = ihdr.data[8];
  header.color_type = ihdr.data[9];
  const int compression = ihdr.data[10], filter = ihdr.data[11], interlace = ihdr.data[12];
  header.interlaced = interlace == 1;
  if (header.width == 0 || header.height == 0 || header.width > kMaxChunkLength || header.height > kMaxChunkLength) {
    return data_loss(label, ": cannot decode: damaged PNG: ", header.width, "x", header.height, " pixels");
  }
  if (!valid_bit_depth(header.color_type, header.bit_depth) || compression != 0 || filter != 0 || interlace > 1) {
    return data_loss(label, ": cannot decode: damaged PNG: invalid IHDR (bit depth ", header.bit_depth, ", color type ",
                     header.color_type, ")");
  }
  return header;
}

Status check_png_integrity(const uint8_t* data, size_t size, const PngHeader& header, const std::string& label) {
  const auto expected = inflated_size(header);
  if (!expected)
    return data_loss(label, ": cannot decode: PNG of ", header.width, "x", header.height, " pixels is too large");
  IdatInflater inflater(label);
  size_t offset = sizeof(kSignature);
  bool seen_idat = false, idat_done = false;
  for (;;) {
    KESTREL_ASSIGN_OR_RETURN(const Chunk chunk, next_chunk(data, size, offset, label));
    if (chunk.type == "IEND") break;
    if (chunk.type == "IDAT") {
      if (idat_done) return data_loss(label, ": cannot decode: damaged PNG: IDAT chunks are not consecutive");
      seen_idat = true;
      KESTREL_RETURN_IF_ERROR(inflater.feed(chunk.data, chunk.length, *expected));
    } else if (seen_idat) {
      idat_done = true;
    }
  }
  if (!seen_idat) return data_loss(label, ": cannot decode: damaged PNG: no image data (IDAT)");
  return inflater.finish(*expected);
}

}  // namespace kestrel
