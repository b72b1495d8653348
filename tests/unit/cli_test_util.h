// Runs the `kestrel` CLI from tests and checks its one-line errors.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace kestrel::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved as printed
};

inline CliResult run_shell(const std::string& command) {
  CliResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

inline CliResult run_cli(const std::string& args) {
  return run_shell(std::string(KESTREL_CLI_PATH) + " " + args + " 2>&1");
}

// stdout alone (for --json output a program parses); stderr, where notes and
// errors go, is kept apart in `diagnostics`.
struct CliOutput {
  int exit_code = -1;
  std::string out;
  std::string diagnostics;
};

inline CliOutput run_cli_stdout(const std::string& args, const std::string& scratch_dir) {
  const std::string err_path = scratch_dir + "/cli_stderr.txt";
  const CliResult result = run_shell(std::string(KESTREL_CLI_PATH) + " " + args + " 2>" + err_path);
  CliOutput split{result.exit_code, result.output, {}};
  if (FILE* err = std::fopen(err_path.c_str(), "r")) {
    std::array<char, 4096> buffer;
    while (size_t n = fread(buffer.data(), 1, buffer.size(), err)) split.diagnostics.append(buffer.data(), n);
    std::fclose(err);
  }
  return split;
}

// One line, exit code 1, "error: " and every expected fragment in it.
inline void expect_clean_error(const CliResult& result, const std::vector<std::string>& fragments) {
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << result.output;
  EXPECT_NE(result.output.find("error: "), std::string::npos) << result.output;
  for (const auto& fragment : fragments) EXPECT_NE(result.output.find(fragment), std::string::npos) << result.output;
}

}  // namespace kestrel::testing
