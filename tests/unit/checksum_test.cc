// The .kestrel checksum: its values are part of the file format (every file
// on disk carries one), so they are pinned here; and its AVX-512 path must
// give the plain C++ path's bits on every size.
#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "format/checksum.h"
#include "test_seed.h"

namespace kestrel::testing {
namespace {

std::vector<unsigned char> pattern(size_t size) {
  std::vector<unsigned char> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>((i * 131 + 7) & 0xFF);
  return bytes;
}

// Values of format version 2's checksum, computed by the plain C++ path when
// it was the only one. A change here makes every existing file "corrupted".
TEST(Checksum, ValuesOfTheFormatArePinned) {
  const std::pair<size_t, uint64_t> golden[] = {{0, 0xa876dfafea1b2f68ull},    {1, 0x7d85b8b3d1a76dcbull},
                                                {7, 0x65ad31fc12529238ull},    {8, 0x3fe3e8ab6029eccdull},
                                                {63, 0xe0f73d3faf43c3f8ull},   {64, 0x8a0b49395bf800a7ull},
                                                {65, 0xbb805b606ea024aaull},   {1000, 0x6edd060c96948e39ull},
                                                {4099, 0x7676be00c28b6cfaull}, {1048576, 0x52dd2ed164f9bd3aull}};
  for (bool portable : {false, true}) {
    force_portable_checksum(portable);
    for (const auto& [size, value] : golden) {
      const auto bytes = pattern(size);
      EXPECT_EQ(model_checksum(bytes.data(), bytes.size()), value) << size << " bytes, portable " << portable;
    }
  }
  force_portable_checksum(false);
}

TEST(Checksum, BothPathsAgreeAndCatchEveryFlippedByte) {
  SCOPED_TRACE(seed_trace());
  std::mt19937 rng(test_seed());
  for (int trial = 0; trial < 50; ++trial) {
    const size_t size = std::uniform_int_distribution<size_t>(0, 5000)(rng);
    std::vector<unsigned char> bytes(size);
    for (auto& b : bytes) b = static_cast<unsigned char>(rng());
    force_portable_checksum(true);
    const uint64_t portable = model_checksum(bytes.data(), size);
    force_portable_checksum(false);
    const uint64_t native = model_checksum(bytes.data(), size);
    EXPECT_EQ(native, portable) << size << " bytes";
    if (size == 0) continue;
    const size_t at = std::uniform_int_distribution<size_t>(0, size - 1)(rng);
    bytes[at] ^= static_cast<unsigned char>(1u << (rng() % 8));
    EXPECT_NE(model_checksum(bytes.data(), size), native) << "flipped a bit of byte " << at << " of " << size;
  }
}

}  // namespace
}  // namespace kestrel::testing
