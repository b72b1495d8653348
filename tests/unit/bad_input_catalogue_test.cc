// Runs every case of the bad-input catalogue (bad_inputs_*.cc): one clear
// error line with the expected fragments and exit code, never a crash, a
// hang or a memory blow-up.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "bad_input_catalogue.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

class BadInput : public ::testing::TestWithParam<size_t> {};

TEST_P(BadInput, Catalogue) {
  const BadInputCase& c = bad_input_cases()[GetParam()];
  const std::string dir = scratch_dir();
  const std::string args = c.make(dir);
  SCOPED_TRACE("kestrel " + args + "\n(" + c.reason + ")");
  const LimitedResult result = run_cli_limited(args);
  ASSERT_FALSE(result.timed_out) << "timed out; output so far:\n" << result.output;
  EXPECT_EQ(result.exit_code, c.exit_code) << result.output;
  if (c.exit_code != 0) {
    EXPECT_NE(result.output.find("error: "), std::string::npos) << result.output;
    if (c.one_line) {
      EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
    }
  }
  for (const auto& fragment : c.fragments) {
    EXPECT_NE(result.output.find(fragment), std::string::npos) << "missing '" << fragment << "' in:\n" << result.output;
  }
}

std::vector<size_t> case_indices() {
  std::vector<size_t> indices(bad_input_cases().size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  return indices;
}

INSTANTIATE_TEST_SUITE_P(, BadInput, ::testing::ValuesIn(case_indices()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return bad_input_cases()[info.param].name;
                         });

TEST(BadInputCatalogue, HasEnoughUniquelyNamedCases) {
  std::set<std::string> names;
  for (const auto& c : bad_input_cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    EXPECT_FALSE(c.reason.empty()) << c.name << " gives no reason";
    EXPECT_TRUE(c.exit_code == 0 || !c.fragments.empty()) << c.name << " checks no message";
  }
  EXPECT_GE(bad_input_cases().size(), 60u);
}

TEST(BadInputCatalogue, LimitsStopABlowUpAndAHang) {
  const LimitedResult hang = run_limited("exec sleep 30", {.timeout_seconds = 1});
  EXPECT_TRUE(hang.timed_out);
#if !defined(__SANITIZE_ADDRESS__)  // under ASan the bound is ASan's allocator's, which python3 does not use
  const LimitedResult blow_up =
      run_limited("exec /usr/bin/python3 -c 'x = bytearray(1 << 31)'", {.address_space_bytes = uint64_t{1} << 30});
  EXPECT_FALSE(blow_up.timed_out);
  EXPECT_NE(blow_up.exit_code, 0);
  EXPECT_NE(blow_up.output.find("MemoryError"), std::string::npos) << blow_up.output;
#endif
}

}  // namespace
}  // namespace kestrel::testing
