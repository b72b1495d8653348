// Paths the tests use; a missing required file fails the test loudly.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace kestrel::testing {

inline std::string source_path(const std::string& relative) { return std::string(KESTREL_SOURCE_DIR) + "/" + relative; }

// ../shared beside the repository (present in CI and on developer machines).
inline std::string shared_path(const std::string& relative) {
  return std::string(KESTREL_SOURCE_DIR) + "/../shared/" + relative;
}

inline std::string fashion_mnist_path(const std::string& file) { return "/usr/share/datasets/fashion-mnist/" + file; }

// A per-test scratch directory, emptied first.
inline std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = std::filesystem::temp_directory_path() /
                   (std::string("kestrel_test_") + info->test_suite_name() + "_" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

#define KESTREL_REQUIRE_FILE(path) \
  ASSERT_TRUE(std::filesystem::exists(path)) << "required test file is missing: " << (path)

}  // namespace kestrel::testing
