// libFuzzer target for the IDX reader (plain and gzip, through zlib's
// gzopen): bytes -> scratch file -> read_idx, all items and the first two.
// Seeds: the first items of /usr/share/datasets/fashion-mnist/*-ubyte.gz,
// uncompressed (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = kestrel::fuzz::write_scratch_file("input.idx", data, size);
  for (int64_t limit : {int64_t{-1}, int64_t{2}}) {
    auto tensor = kestrel::read_idx(path, limit);
    if (tensor.ok()) kestrel::fuzz::touch_tensor(*tensor);
  }
  return 0;
}
