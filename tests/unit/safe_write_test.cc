// Output files are written atomically and safely (src/base/safe_write.h).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/safe_write.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

mode_t mode_of(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

size_t entries(const std::string& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

TEST(SafeWrite, WritesAndReplaces) {
  const std::string dir = scratch_dir(), path = dir + "/out.bin";
  ASSERT_TRUE(write_file_atomically(path, "first", 5).ok());
  EXPECT_EQ(read_all(path), "first");
  ASSERT_TRUE(write_file_atomically(path, "second!", 7).ok());
  EXPECT_EQ(read_all(path), "second!");
  EXPECT_EQ(entries(dir), 1u) << "a temporary file was left behind";
}

TEST(SafeWrite, KeepsTheModeOfTheFileItReplaces) {
  const std::string path = scratch_dir() + "/private.kestrel";
  ASSERT_TRUE(write_file_atomically(path, "a", 1).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ASSERT_TRUE(write_file_atomically(path, "b", 1).ok());
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST(SafeWrite, NewFilesFollowTheUmask) {
  const std::string path = scratch_dir() + "/new.bin";
  const mode_t old_mask = ::umask(027);
  const Status status = write_file_atomically(path, "x", 1);
  ::umask(old_mask);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(mode_of(path), 0640u);
}

TEST(SafeWrite, ASymlinkAtTheTargetIsReplacedNotFollowed) {
  const std::string dir = scratch_dir();
  const std::string victim = dir + "/victim.txt", link = dir + "/model.kestrel";
  std::ofstream(victim) << "precious";
  std::filesystem::create_symlink(victim, link);
  ASSERT_TRUE(write_file_atomically(link, "model", 5).ok());
  EXPECT_EQ(read_all(victim), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(link));
  EXPECT_EQ(read_all(link), "model");
}

TEST(SafeWrite, FailureLeavesThePreviousFileAndNoTemporary) {
  const std::string dir = scratch_dir(), path = dir + "/out.bin";
  ASSERT_TRUE(write_file_atomically(path, "old", 3).ok());
  const Status status = write_file_atomically(path, [](const WriteChunk& write) {
    write("partial", 7);
    return invalid_argument("producer failed");
  });
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "producer failed");
  EXPECT_EQ(read_all(path), "old");
  EXPECT_EQ(entries(dir), 1u);
}

TEST(SafeWrite, ErrorsNameThePathAndReason) {
  const std::string dir = scratch_dir();
  const Status into_dir = write_file_atomically(dir, "x", 1, "model file");
  EXPECT_FALSE(into_dir.ok());
  EXPECT_NE(into_dir.message().find(dir), std::string::npos) << into_dir.message();
  const Status missing = write_file_atomically(dir + "/no/such/folder/m.kestrel", "x", 1, "model file");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("m.kestrel: cannot write model file: No such file or directory"), std::string::npos)
      << missing.message();
  EXPECT_EQ(entries(dir), 0u);
}

}  // namespace
}  // namespace kestrel::testing
