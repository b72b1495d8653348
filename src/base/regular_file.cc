#include "base/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kestrel {
namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

StatusOr<int> open_regular_file(const std::string& path, int64_t max_bytes, int64_t* size) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise block forever
  // before fstat could refuse it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return not_found(path, ": cannot open file: no such file");
    return not_found(path, ": cannot open file: ", std::strerror(error));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return not_found(path, ": cannot stat file: ", std::strerror(error));
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return invalid_argument(path, ": is ", file_kind(info.st_mode), ", not a regular file");
  }
  if (info.st_size > max_bytes) {
    ::close(fd);
    return invalid_argument(path, ": is ", info.st_size, " bytes, larger than the limit of ", max_bytes, " bytes");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (size) *size = info.st_size;
  return fd;
}

StatusOr<std::string> read_regular_file(const std::string& path, int64_t max_bytes) {
  int64_t size = 0;
  KESTREL_ASSIGN_OR_RETURN(const int fd, open_regular_file(path, max_bytes, &size));
  std::string bytes(static_cast<size_t>(size), '\0');
  int64_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, bytes.data() + done, static_cast<size_t>(size - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      if (n == 0) return data_loss(path, ": file shrank while being read (", done, " of ", size, " bytes)");
      return data_loss(path, ": read failed: ", std::strerror(error));
    }
    done += n;
  }
  ::close(fd);
  return bytes;
}

Status check_regular_file(const std::string& path, int64_t max_bytes) {
  int64_t size = 0;
  auto fd = open_regular_file(path, max_bytes, &size);
  if (!fd.ok()) return fd.status();
  ::close(*fd);
  return Status::ok_status();
}

}  // namespace kestrel
