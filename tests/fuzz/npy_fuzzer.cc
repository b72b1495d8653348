// libFuzzer target for the .npy reader: bytes -> scratch file -> read_npy;
// whatever it accepts is written back with write_npy and must read back to
// the same shape, dtype and bytes.
// Seeds: tests/data/**/*.npy (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz_util.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kestrel;
  const std::string path = fuzz::write_scratch_file("input.npy", data, size);
  auto tensor = read_npy(path);
  if (!tensor.ok()) return 0;
  fuzz::touch_tensor(*tensor);
  if (tensor->nbytes() > static_cast<size_t>(fuzz::kMaxRunBytes)) return 0;
  const std::string copy = (fuzz::scratch_dir() / "copy.npy").string();
  if (!write_npy(copy, *tensor).ok()) return 0;
  auto again = read_npy(copy);
  if (!again.ok() || again->dtype() != tensor->dtype() || again->shape() != tensor->shape() ||
      std::memcmp(again->raw_data(), tensor->raw_data(), tensor->nbytes()) != 0) {
    std::fprintf(stderr, "npy_fuzzer: write_npy/read_npy round trip changed the tensor: %s\n",
                 again.ok() ? "different contents" : again.status().message().c_str());
    std::abort();
  }
  return 0;
}
