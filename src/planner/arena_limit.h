// The largest activation arena Kestrel plans for unless told otherwise. A
// model whose arena exceeds it is refused when converted (kestrel convert
// --max-arena-bytes) and may be refused when loaded, instead of failing with
// an allocation error halfway through (or swapping the machine to a halt).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "base/status.h"

namespace kestrel {

// Used when the machine's physical memory cannot be read.
inline constexpr int64_t kFallbackMaxArenaBytes = int64_t{16} << 30;  // 16 GiB

// Half of this machine's physical memory (sysconf(_SC_PHYS_PAGES) *
// sysconf(_SC_PAGE_SIZE) / 2), or kFallbackMaxArenaBytes when it is unknown.
// Half, so that the weights, the inputs and the rest of the process fit too.
inline int64_t default_max_arena_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return kFallbackMaxArenaBytes;
  int64_t physical = 0;
  if (__builtin_mul_overflow(static_cast<int64_t>(pages), static_cast<int64_t>(page_size), &physical)) {
    return kFallbackMaxArenaBytes;
  }
  return physical / 2;
}

// "4.40 TB", "12.64 GB", "0.20 MB": the size as a person reads it.
inline std::string readable_bytes(int64_t bytes) {
  const double value = static_cast<double>(bytes);
  char text[32];
  if (value >= 1e12) std::snprintf(text, sizeof(text), "%.2f TB", value / 1e12);
  else if (value >= 1e9) std::snprintf(text, sizeof(text), "%.2f GB", value / 1e9);
  else std::snprintf(text, sizeof(text), "%.2f MB", value / 1e6);
  return text;
}

// OK when `arena_bytes` <= `max_bytes`; else an error naming both, e.g.
// "the activation arena needs 8000000000000 bytes (8.00 TB), more than the
// limit of 1000000000 bytes (1.00 GB) (--max-arena-bytes)". `limit_name`
// says where the limit comes from.
inline Status check_arena_limit(int64_t arena_bytes, int64_t max_bytes, const std::string& limit_name) {
  if (arena_bytes <= max_bytes) return {};
  return invalid_argument("the activation arena needs ", arena_bytes, " bytes (", readable_bytes(arena_bytes),
                          "), more than the limit of ", max_bytes, " bytes (", readable_bytes(max_bytes), ") (",
                          limit_name, ")");
}

}  // namespace kestrel
