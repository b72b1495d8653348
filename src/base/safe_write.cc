#include "base/safe_write.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace kestrel {
namespace {

constexpr int kMaxNameAttempts = 16;
constexpr mode_t kNewFileMode = 0644;

std::string random_suffix() {
  uint64_t bits = 0;
  if (getrandom(&bits, sizeof(bits), 0) != static_cast<ssize_t>(sizeof(bits))) {
    bits = static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ull ^ reinterpret_cast<uintptr_t>(&bits);
  }
  static const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string suffix;
  for (int i = 0; i < 12; ++i, bits /= 36) suffix += kDigits[bits % 36];
  return suffix;
}

// The mode a new file gets from the umask (read without changing it for good).
mode_t mode_for_new_file() {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return kNewFileMode & ~mask;
}

class TempFile {
 public:
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  Status create(const std::string& target, std::string_view what) {
    const std::filesystem::path target_path(target);
    const std::string folder = target_path.has_parent_path() ? target_path.parent_path().string() : ".";
    const std::string base = target_path.filename().string();
    if (base.empty() || base == "." || base == "..") return invalid_argument(target, ": not a file name");
    for (int attempt = 0; attempt < kMaxNameAttempts; ++attempt) {
      std::string candidate = folder;
      candidate.append("/.").append(base).append(".tmp-").append(random_suffix());
      fd_ = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd_ >= 0) {
        path_ = std::move(candidate);
        return {};
      }
      if (errno != EEXIST) return not_found(target, ": cannot write ", what, ": ", std::strerror(errno));
    }
    return invalid_argument(target, ": cannot write ", what, ": no unused temporary name in ", folder);
  }
  bool write(const void* data, size_t size) {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, bytes, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = errno;
        return false;
      }
      bytes += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
  Status commit(const std::string& target, std::string_view what) {
    struct stat existing {};
    const bool replaces = ::lstat(target.c_str(), &existing) == 0;
    if (replaces && S_ISDIR(existing.st_mode)) return invalid_argument(target, ": is a directory");
    // A symlink at the target is replaced by the file, never written through.
    const mode_t mode = replaces && S_ISREG(existing.st_mode) ? (existing.st_mode & 07777) : mode_for_new_file();
    if (::fchmod(fd_, mode) != 0 || ::fsync(fd_) != 0) return failed(target, what, errno);
    if (::close(fd_) != 0) {
      fd_ = -1;
      return failed(target, what, errno);
    }
    fd_ = -1;
    if (::rename(path_.c_str(), target.c_str()) != 0) return failed(target, what, errno);
    path_.clear();  // it is the target now
    return {};
  }
  Status failed(const std::string& target, std::string_view what, int error) const {
    return not_found(target, ": cannot write ", what, ": ", std::strerror(error ? error : EIO));
  }
  int last_error() const { return error_; }

 private:
  int fd_ = -1;
  int error_ = 0;
  std::string path_;
};

}  // namespace

Status write_file_atomically(const std::string& path, const std::function<Status(const WriteChunk&)>& produce,
                             std::string_view what) {
  TempFile temp;
  KESTREL_RETURN_IF_ERROR(temp.create(path, what));
  bool write_failed = false;
  const WriteChunk write = [&](const void* data, size_t size) {
    if (!write_failed && !temp.write(data, size)) write_failed = true;
    return !write_failed;
  };
  KESTREL_RETURN_IF_ERROR(produce(write));
  if (write_failed) return temp.failed(path, what, temp.last_error());
  return temp.commit(path, what);
}

Status write_file_atomically(const std::string& path, const void* data, size_t size, std::string_view what) {
  return write_file_atomically(
      path,
      [&](const WriteChunk& write) {
        write(data, size);  // a failed write is reported by the caller above
        return Status();
      },
      what);
}

}  // namespace kestrel
