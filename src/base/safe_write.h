// Writing output files safely: the bytes go to a fresh temporary file in the
// target's folder (a random name, O_CREAT|O_EXCL|O_NOFOLLOW, so a planted
// symlink or file is never followed or reused), are flushed to disk, take
// the mode of the file they replace (or 0644 less the umask for a new one),
// and are renamed over the target in one step. On any failure the temporary
// file is removed and the previous target is left as it was; killing the
// process mid-write leaves the target intact too.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kestrel {

// Writes `size` bytes at `data` to `path` atomically. `what` names the kind
// of file in errors ("model file", "tensor file").
Status write_file_atomically(const std::string& path, const void* data, size_t size, std::string_view what = "file");

// The same, for content produced in pieces: `produce` gets a `write` function
// to call any number of times (each call appends; it returns false once a
// write has failed).
using WriteChunk = std::function<bool(const void* data, size_t size)>;
Status write_file_atomically(const std::string& path, const std::function<Status(const WriteChunk&)>& produce,
                             std::string_view what = "file");

}  // namespace kestrel
