// Paths the tests use; a missing required file fails the test loudly.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace kestrel::testing {

inline std::string source_path(const std::string& relative) { return std::string(KESTREL_SOURCE_DIR) + "/" + relative; }

// The trained models and ONNX Runtime's quantized forms of them in
// ../shared/models beside the repository (CI has them, a user's clone does
// not). Only tests whose suite name starts with "Trained" use them: they form
// the CTest group labelled trained_models (tests/CMakeLists.txt).
inline std::string trained_model_path(const std::string& file) {
  return std::string(KESTREL_SOURCE_DIR) + "/../shared/models/" + file;
}

// Models the test suite makes itself (scripts/make_test_models.py, run by the
// test_models CTest fixture): torchvision's resnet50 and mobilenet_v2 with
// seeded weights, as NAME.onnx, and PyTorch's logits as NAME.torch_logits.npy.
inline std::string test_model_path(const std::string& file) {
  return std::string(KESTREL_TEST_MODELS_DIR) + "/" + file;
}

inline std::string fashion_mnist_path(const std::string& file) { return "/usr/share/datasets/fashion-mnist/" + file; }

// A per-test scratch directory, emptied first; the process id keeps test
// runs from different build trees at the same time apart.
inline std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name =
      std::string("kestrel_test_") + info->test_suite_name() + "_" + info->name() + "_" + std::to_string(::getpid());
  for (char& c : name) {
    if (c == '/') c = '_';  // parameterized test names hold '/'
  }
  const auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// For helpers that return a value, where ASSERT cannot stop the test: an
// error fails the test with its message and leaves the helper by an
// exception (which gtest reports), instead of reading a value that is not
// there.
#define KESTREL_CHECK_OK(status_or)                                                \
  do {                                                                             \
    if (!(status_or).ok()) {                                                       \
      ADD_FAILURE() << (status_or).status().message();                             \
      throw std::runtime_error("test stopped: " + (status_or).status().message()); \
    }                                                                              \
  } while (0)

#define KESTREL_REQUIRE_FILE(path) \
  ASSERT_TRUE(std::filesystem::exists(path)) << "required test file is missing: " << (path)

}  // namespace kestrel::testing
