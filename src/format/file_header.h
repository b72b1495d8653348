// The fixed 64-byte little-endian header at the start of every .kestrel file.
// It is read before anything else and locates the two sections:
//
//   [header 64 B][FlatBuffer: graph, target, plan, quant, metadata][pad][weights]
//
// docs/model_format.md has the byte table; the offsets here are the contract.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace kestrel {

inline constexpr std::array<uint8_t, 8> kModelMagic = {'K', 'S', 'T', 'R', 'L', 0, 0, 0};
// Bumped only for changes an older reader cannot skip (see the docs).
// 2: packed conv weights are an optional cache beside the plain weights,
// named by a Kestrel layout key (version 1 stored oneDNN's raw descriptor).
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kHeaderSize = 64;
// Weights section start and every blob in it; matches kTensorAlignment and a
// cache line, so kernels can use aligned loads on mmap'ed weights.
inline constexpr uint64_t kWeightAlignment = 64;

// Byte offsets of the header fields.
inline constexpr size_t kMagicOffset = 0;
inline constexpr size_t kVersionOffset = 8;
inline constexpr size_t kHeaderSizeOffset = 12;
inline constexpr size_t kFlatbufferOffsetOffset = 16;
inline constexpr size_t kFlatbufferSizeOffset = 24;
inline constexpr size_t kWeightsOffsetOffset = 32;
inline constexpr size_t kWeightsSizeOffset = 40;
inline constexpr size_t kFileSizeOffset = 48;
inline constexpr size_t kChecksumOffset = 56;

struct FileHeader {
  uint32_t version = kFormatVersion;
  uint32_t header_size = kHeaderSize;
  uint64_t flatbuffer_offset = 0;
  uint64_t flatbuffer_size = 0;
  uint64_t weights_offset = 0;
  uint64_t weights_size = 0;
  uint64_t file_size = 0;
  uint64_t checksum = 0;  // model_checksum of bytes [header_size, file_size)
};

std::array<uint8_t, kHeaderSize> encode_file_header(const FileHeader& header);

// Reads and checks the header of a `size`-byte file: magic, version, and that
// the sections lie inside the file in order and aligned. Does not check the
// checksum. `label` (the path) starts every error message.
StatusOr<FileHeader> decode_file_header(const uint8_t* data, size_t size, const std::string& label);

inline uint64_t align_up(uint64_t offset, uint64_t alignment) {
  return (offset + alignment - 1) / alignment * alignment;
}

}  // namespace kestrel
