// The inputs that crashed a fuzz target (tests/fuzz/regressions/) go through
// the same path in the ordinary build: each must now give a clear error or a
// clean run, never undefined behaviour (sanitize.sh runs this under ASan and
// UBSan, where a regression would stop the test).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "io/image.h"
#include "model_file_test_util.h"
#include "runtime/session.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

std::string regressions(const std::string& target) { return source_path("tests/fuzz/regressions/" + target); }

// As the model-file fuzzer does: reseal the checksum, load, create, run.
Status load_and_run(const std::string& path) {
  std::vector<uint8_t> bytes = read_bytes(path);
  reseal(bytes);
  auto model = load_bytes(bytes, path);
  if (!model.ok()) return model.status();
  auto session = Session::create(std::make_shared<const Graph>(model->graph), model->plan, {.threads = 1});
  if (!session.ok()) return session.status();
  return (*session)->run();
}

TEST(FuzzRegressions, ConvWithoutAnOutputIsRefused) {
  const std::string path = regressions("model_file_fuzzer/conv_missing_output.kestrel");
  KESTREL_REQUIRE_FILE(path);
  const Status status = load_and_run(path);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("has no output"), std::string::npos) << status.message();
}

TEST(FuzzRegressions, MisalignedVectorsAreReadSafely) {
  const std::string path = regressions("model_file_fuzzer/misaligned_int64_vector.kestrel");
  KESTREL_REQUIRE_FILE(path);
  // The vector is copied byte-wise (UBSan, under sanitize.sh, checks that no
  // typed misaligned load remains); the node it belongs to is then refused.
  const Status status = load_and_run(path);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'Transpose_0' (Transpose): expects 1 inputs, got 0"), std::string::npos)
      << status.message();
}

TEST(FuzzRegressions, OversizedJpegHuffmanTablesAreRefused) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(regressions("image_fuzzer"))) {
    const std::vector<uint8_t> bytes = read_bytes(entry.path().string());
    auto image = decode_image(bytes.data(), bytes.size(), entry.path().filename().string());
    // Refused by Kestrel's own check of the tables, before stb_image reads them.
    ASSERT_FALSE(image.ok()) << entry.path();
    EXPECT_NE(image.status().message().find("Huffman table (DHT)"), std::string::npos) << image.status().message();
    ++files;
  }
  EXPECT_GE(files, 3);
}

}  // namespace
}  // namespace kestrel::testing
