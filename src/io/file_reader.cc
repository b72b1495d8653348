#include "io/file_reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace kestrel {

StatusOr<FileReader> FileReader::open(const std::string& path, int64_t max_bytes) {
  int64_t size = 0;
  KESTREL_ASSIGN_OR_RETURN(const int fd, open_regular_file(path, max_bytes, &size));
  return FileReader(path, fd, size);
}

FileReader::FileReader(FileReader&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      position_(other.position_) {}

FileReader& FileReader::operator=(FileReader&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    position_ = other.position_;
  }
  return *this;
}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

Status FileReader::read_exact(void* dst, int64_t bytes, const std::string& what) {
  if (bytes < 0 || bytes > remaining()) {
    return data_loss(path_, ": truncated ", what, ": needs ", bytes, " bytes at offset ", position_, ", the file has ",
                     remaining(), " left");
  }
  auto* out = static_cast<char*>(dst);
  int64_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::read(fd_, out + done, static_cast<size_t>(bytes - done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return data_loss(path_, ": cannot read ", what, ": ", std::strerror(errno));
    if (n == 0) return data_loss(path_, ": truncated ", what, ": the file shrank while being read");
    done += n;
  }
  position_ += bytes;
  return {};
}

Status FileReader::seek(int64_t offset) {
  if (offset < 0 || offset > size_) return internal_error(path_, ": seek to ", offset, " outside the file");
  if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) != static_cast<off_t>(offset)) {
    return data_loss(path_, ": cannot seek: ", std::strerror(errno));
  }
  position_ = offset;
  return {};
}

int FileReader::release() { return std::exchange(fd_, -1); }

}  // namespace kestrel
