// Helpers shared by the libFuzzer targets: scratch files for the parsers that
// only read paths, and reads that make AddressSanitizer check every byte a
// parsed result claims to own.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

#include "ir/graph.h"
#include "ir/tensor.h"

namespace kestrel::fuzz {

// Inputs larger than this (elements of one tensor, bytes of an arena) are
// parsed and checked but not executed: they would only hit the fuzzer's RSS
// limit, and a model that big is legitimate, not a parser bug.
inline constexpr int64_t kMaxRunElements = int64_t{1} << 22;
inline constexpr int64_t kMaxRunBytes = int64_t{64} << 20;

// A per-process directory under $TMPDIR (or /tmp), created once.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path path =
        std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / ("kestrel_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

// Writes `data` to scratch_dir()/name (overwritten on every call) and
// returns the path.
inline std::string write_scratch_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  if (FILE* file = std::fopen(path.c_str(), "wb")) {
    if (size > 0) std::fwrite(data, 1, size, file);
    std::fclose(file);
  }
  return path;
}

inline void touch_bytes(const void* data, size_t size) {
  volatile uint8_t sink = 0;
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) sink = sink ^ bytes[i];
}

inline void touch_tensor(const Tensor& tensor) {
  if (tensor.empty() || tensor.size() < 0) return;
  touch_bytes(tensor.raw_data(), tensor.nbytes());
}

// Every constant's bytes, then the IR verifier.
inline void touch_graph(const Graph& graph) {
  for (const Value& value : graph.values) {
    if (value.constant) touch_tensor(*value.constant);
  }
  (void)graph.verify();
}

// True when every dim is known and non-negative and the element count stays
// under kMaxRunElements (with no overflow on the way).
inline bool small_shape(const Shape& shape) {
  int64_t elements = 1;
  for (int64_t dim : shape) {
    if (dim < 0 || dim > kMaxRunElements) return false;
    elements *= dim;
    if (elements > kMaxRunElements) return false;
  }
  return true;
}

}  // namespace kestrel::fuzz
