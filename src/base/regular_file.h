// Opening files named by users: only regular files (never a FIFO, a device
// such as /dev/zero, a socket or a directory, which would hang or read
// without end), with a size limit checked before anything is read.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace kestrel {

// The largest file Kestrel reads whole by default (models, images, tensors).
inline constexpr int64_t kDefaultMaxFileBytes = int64_t{8} << 30;  // 8 GiB

// Opens `path` read-only and returns the descriptor (O_CLOEXEC) if it is a
// regular file of at most `max_bytes`; `size` receives its size. Errors name
// the path and the reason: "is a directory", "is not a regular file (a FIFO)",
// "is N bytes, larger than the limit of M".
StatusOr<int> open_regular_file(const std::string& path, int64_t max_bytes, int64_t* size);

// Reads a whole regular file (checked as above) into a string.
StatusOr<std::string> read_regular_file(const std::string& path, int64_t max_bytes = kDefaultMaxFileBytes);

// Checks without keeping the file open.
Status check_regular_file(const std::string& path, int64_t max_bytes = kDefaultMaxFileBytes);

}  // namespace kestrel
