// Reading an untrusted regular file piece by piece: opened with
// open_regular_file (never a FIFO, device or directory), its size known
// before anything is read, so headers can be checked against the bytes
// actually there before anything is allocated from them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/regular_file.h"
#include "base/status.h"

namespace kestrel {

class FileReader {
 public:
  static StatusOr<FileReader> open(const std::string& path, int64_t max_bytes = kDefaultMaxFileBytes);
  FileReader(FileReader&& other) noexcept;
  FileReader& operator=(FileReader&& other) noexcept;
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  ~FileReader();

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }
  int64_t position() const { return position_; }
  int64_t remaining() const { return size_ - position_; }

  // Reads exactly `bytes` or fails naming the file and `what` ("truncated
  // .npy header: needs 118 bytes, 20 left").
  Status read_exact(void* dst, int64_t bytes, const std::string& what);

  // Moves to `offset` from the start (within the file).
  Status seek(int64_t offset);

  // Gives the descriptor away (e.g. to gzdopen); the reader is closed after.
  int release();

 private:
  FileReader(std::string path, int fd, int64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;
  int64_t position_ = 0;
};

}  // namespace kestrel
