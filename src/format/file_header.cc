#include "format/file_header.h"

#include <algorithm>

namespace kestrel {
namespace {

template <typename T>
void store_le(uint8_t* dst, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) dst[i] = static_cast<uint8_t>(value >> (8 * i));
}

template <typename T>
T load_le(const uint8_t* src) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(src[i]) << (8 * i);
  return value;
}

Status check_sections(const FileHeader& h, size_t size, const std::string& label) {
  if (h.header_size != kHeaderSize) {
    return data_loss(label, ": corrupted header: header size ", h.header_size, ", expected ", kHeaderSize);
  }
  if (h.file_size != size) {
    if (h.file_size > size)
      return data_loss(label, ": truncated: header says ", h.file_size, " bytes, file has ", size);
    return data_loss(label, ": corrupted: header says ", h.file_size, " bytes, file has ", size, " (trailing data)");
  }
  // Subtractions rather than sums, so that huge values cannot wrap around.
  if (h.flatbuffer_offset != kHeaderSize || h.flatbuffer_size == 0 || h.flatbuffer_size > size - h.flatbuffer_offset) {
    return data_loss(label, ": corrupted header: model section [", h.flatbuffer_offset, ", +", h.flatbuffer_size,
                     ") does not fit the ", size, "-byte file");
  }
  const uint64_t flatbuffer_end = h.flatbuffer_offset + h.flatbuffer_size;
  if (h.weights_offset % kWeightAlignment != 0 || h.weights_offset < flatbuffer_end ||
      h.weights_offset - flatbuffer_end >= kWeightAlignment || h.weights_offset > size ||
      h.weights_size != size - h.weights_offset) {
    return data_loss(label, ": corrupted header: weights section [", h.weights_offset, ", +", h.weights_size,
                     ") is misplaced, misaligned or does not end at the end of the ", size, "-byte file");
  }
  return {};
}

}  // namespace

std::array<uint8_t, kHeaderSize> encode_file_header(const FileHeader& header) {
  std::array<uint8_t, kHeaderSize> bytes{};
  std::copy(kModelMagic.begin(), kModelMagic.end(), bytes.begin() + kMagicOffset);
  store_le(bytes.data() + kVersionOffset, header.version);
  store_le(bytes.data() + kHeaderSizeOffset, header.header_size);
  store_le(bytes.data() + kFlatbufferOffsetOffset, header.flatbuffer_offset);
  store_le(bytes.data() + kFlatbufferSizeOffset, header.flatbuffer_size);
  store_le(bytes.data() + kWeightsOffsetOffset, header.weights_offset);
  store_le(bytes.data() + kWeightsSizeOffset, header.weights_size);
  store_le(bytes.data() + kFileSizeOffset, header.file_size);
  store_le(bytes.data() + kChecksumOffset, header.checksum);
  return bytes;
}

StatusOr<FileHeader> decode_file_header(const uint8_t* data, size_t size, const std::string& label) {
  const size_t magic_bytes = std::min(size, kModelMagic.size());
  if (!std::equal(data, data + magic_bytes, kModelMagic.begin())) {
    return data_loss(label, ": not a Kestrel model file (bad magic)");
  }
  if (size < kHeaderSize) {
    return data_loss(label, ": truncated: ", size, " bytes, shorter than the ", kHeaderSize, "-byte header");
  }
  FileHeader header;
  header.version = load_le<uint32_t>(data + kVersionOffset);
  if (header.version != kFormatVersion) {
    return unimplemented(
        label, ": model file format version ", header.version, "; this build of Kestrel reads version ", kFormatVersion,
        header.version > kFormatVersion ? " (convert it again or update Kestrel)" : " (convert the model again)");
  }
  header.header_size = load_le<uint32_t>(data + kHeaderSizeOffset);
  header.flatbuffer_offset = load_le<uint64_t>(data + kFlatbufferOffsetOffset);
  header.flatbuffer_size = load_le<uint64_t>(data + kFlatbufferSizeOffset);
  header.weights_offset = load_le<uint64_t>(data + kWeightsOffsetOffset);
  header.weights_size = load_le<uint64_t>(data + kWeightsSizeOffset);
  header.file_size = load_le<uint64_t>(data + kFileSizeOffset);
  header.checksum = load_le<uint64_t>(data + kChecksumOffset);
  KESTREL_RETURN_IF_ERROR(check_sections(header, size, label));
  return header;
}

}  // namespace kestrel
