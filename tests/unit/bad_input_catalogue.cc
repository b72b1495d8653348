#include "bad_input_catalogue.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>

namespace kestrel::testing {

std::vector<BadInputCase>& bad_input_cases() {
  static std::vector<BadInputCase> cases;
  return cases;
}

BadInputRegistration::BadInputRegistration(std::vector<BadInputCase> cases) {
  for (auto& c : cases) bad_input_cases().push_back(std::move(c));
}

namespace {

[[noreturn]] void exec_child(const std::string& shell_command, const Limits& limits, int out_fd) {
  dup2(out_fd, STDOUT_FILENO);
  dup2(out_fd, STDERR_FILENO);
  close(out_fd);
#if defined(__SANITIZE_ADDRESS__)
  // An AddressSanitizer binary reserves terabytes of shadow memory and cannot
  // start under RLIMIT_AS; its allocator enforces the same bound instead
  // (an allocation above it fails as under the limit: bad_alloc, not a crash).
  const std::string asan_options =
      "max_allocation_size_mb=" + std::to_string(limits.address_space_bytes >> 20) +
      ":allocator_may_return_null=1:" + (getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "");
  setenv("ASAN_OPTIONS", asan_options.c_str(), 1);
#else
  const rlimit address_space{limits.address_space_bytes, limits.address_space_bytes};
  setrlimit(RLIMIT_AS, &address_space);
#endif
  const rlim_t cpu_seconds = static_cast<rlim_t>(limits.timeout_seconds) * 2;  // a backstop for the wall clock below
  const rlimit cpu{cpu_seconds, cpu_seconds};
  setrlimit(RLIMIT_CPU, &cpu);
  setpgid(0, 0);  // its own process group, so a timeout kills everything it started
  execl("/bin/sh", "sh", "-c", shell_command.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

}  // namespace

LimitedResult run_limited(const std::string& shell_command, const Limits& limits) {
  LimitedResult result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result;
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return result;
  }
  if (pid == 0) {
    close(fds[0]);
    exec_child(shell_command, limits, fds[1]);
  }
  close(fds[1]);
  setpgid(pid, pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(limits.timeout_seconds);
  char buffer[4096];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0) break;
    if (ready == 0) continue;
    const ssize_t n = read(fds[0], buffer, sizeof(buffer));
    if (n <= 0) break;  // end of output: the command has finished (or closed its streams)
    if (result.output.size() < (1u << 20)) result.output.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  kill(-pid, SIGKILL);  // anything the command left behind in its group
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

LimitedResult run_cli_limited(const std::string& args, const Limits& limits) {
  return run_limited("exec " + std::string(KESTREL_CLI_PATH) + " " + args, limits);
}

}  // namespace kestrel::testing
