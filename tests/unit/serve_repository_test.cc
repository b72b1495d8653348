// kestrel serve's model repository layout (DIR/NAME/VERSION/one .kestrel):
// each bad layout is one error naming the path.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "serve/model_repository.h"
#include "test_paths.h"

namespace kestrel::serve {
namespace {

namespace fs = std::filesystem;

void touch(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << "not a model";
}

void expect_layout_error(const std::string& dir, const std::vector<std::string>& fragments) {
  const StatusOr<std::vector<ModelLocation>> scanned = scan_model_repository(dir);
  ASSERT_FALSE(scanned.ok());
  for (const std::string& fragment : fragments) {
    EXPECT_NE(scanned.status().message().find(fragment), std::string::npos)
        << "'" << fragment << "' not in: " << scanned.status().message();
  }
}

TEST(ServeRepository, FindsEveryVersionLowestFirst) {
  const fs::path dir = kestrel::testing::scratch_dir();
  touch(dir / "b" / "10" / "model.kestrel");
  touch(dir / "b" / "2" / "other.kestrel");
  touch(dir / "b" / "2" / "notes.txt");       // not a model: ignored
  touch(dir / "b" / "config.pbtxt");          // ignored
  fs::create_directories(dir / "b" / "old");  // not a number: ignored
  touch(dir / "a" / "1" / "m.kestrel");
  touch(dir / "README");
  const StatusOr<std::vector<ModelLocation>> scanned = scan_model_repository(dir.string());
  ASSERT_TRUE(scanned.ok()) << scanned.status().message();
  ASSERT_EQ(scanned->size(), 3u);
  EXPECT_EQ((*scanned)[0].name, "a");
  EXPECT_EQ((*scanned)[1].name, "b");
  EXPECT_EQ((*scanned)[1].version, "2");
  EXPECT_EQ((*scanned)[1].path, (dir / "b" / "2" / "other.kestrel").string());
  EXPECT_EQ((*scanned)[2].version, "10");
}

TEST(ServeRepository, BadLayoutsNameThePath) {
  const fs::path dir = kestrel::testing::scratch_dir();
  expect_layout_error((dir / "absent").string(), {"absent", "is not a directory"});
  expect_layout_error(dir.string(), {dir.string(), "holds no model folder"});
  fs::create_directories(dir / "m" / "latest");
  expect_layout_error(dir.string(), {(dir / "m").string(), "no numbered version folder"});
  fs::create_directories(dir / "m" / "1");
  expect_layout_error(dir.string(), {(dir / "m" / "1").string(), "holds no .kestrel file"});
  touch(dir / "m" / "1" / "a.kestrel");
  touch(dir / "m" / "1" / "b.kestrel");
  expect_layout_error(dir.string(), {(dir / "m" / "1").string(), "2 .kestrel files", "a.kestrel, b.kestrel"});
}

}  // namespace
}  // namespace kestrel::serve
