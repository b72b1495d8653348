// The bad-input catalogue: malformed, hostile or careless inputs to the CLI,
// kept as data. Each case makes its input files in a scratch folder, names
// the CLI arguments, and says what must happen: the exit code and fragments
// of the one error line (the file, node or tensor, and the reason).
//
// Every case runs in a child process under an address-space limit and a
// timeout (run_limited below), so a memory blow-up or a hang fails the case
// instead of the machine. Cases live in bad_inputs_*.cc, one file per input
// kind, registered with KESTREL_BAD_INPUTS; bad_input_catalogue_test.cc runs
// them all as BadInput.Catalogue/NAME.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kestrel::testing {

struct BadInputCase {
  std::string name;  // unique; letters, digits and '_' (the gtest parameter name)
  // Writes the case's files under `dir` (an empty scratch folder) and returns
  // the CLI arguments, e.g. "inspect --model " + dir + "/m.onnx".
  std::function<std::string(const std::string& dir)> make;
  int exit_code = 1;                   // 0 for inputs that must be accepted
  std::vector<std::string> fragments;  // each must appear in the output
  bool one_line = true;                // an error is exactly one line on stderr
  std::string reason;                  // the class of defect it stands for
};

// Every registered case, in registration order.
std::vector<BadInputCase>& bad_input_cases();

struct BadInputRegistration {
  explicit BadInputRegistration(std::vector<BadInputCase> cases);
};

#define KESTREL_BAD_INPUTS_CONCAT2(a, b) a##b
#define KESTREL_BAD_INPUTS_CONCAT(a, b) KESTREL_BAD_INPUTS_CONCAT2(a, b)
#define KESTREL_BAD_INPUTS(...) \
  static const ::kestrel::testing::BadInputRegistration KESTREL_BAD_INPUTS_CONCAT(bad_inputs_, __LINE__) { __VA_ARGS__ }

struct LimitedResult {
  int exit_code = -1;      // the process's exit status, or 128 + signal
  bool timed_out = false;  // killed by the timeout
  std::string output;      // stdout and stderr together
};

struct Limits {
  uint64_t address_space_bytes = uint64_t{4} << 30;  // RLIMIT_AS of the child
  int timeout_seconds = 60;
};

// Runs `shell_command` (through /bin/sh -c) in a child process with the
// given limits and returns its output and exit status.
LimitedResult run_limited(const std::string& shell_command, const Limits& limits = {});

// Runs the kestrel CLI with `args` under the limits.
LimitedResult run_cli_limited(const std::string& args, const Limits& limits = {});

}  // namespace kestrel::testing
