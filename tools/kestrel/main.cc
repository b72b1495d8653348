// kestrel: convert, inspect, run and evaluate vision models.
#include <exception>
#include <iostream>
#include <map>

#include "commands.h"

namespace {

int run_cli(int argc, char** argv) {
  CLI::App app{"Kestrel: ONNX vision models to fast CPU inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kestrel 0.1.0");
  std::map<CLI::App*, kestrel::cli::Command> commands;
  auto add = [&](kestrel::cli::Command (*adder)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    kestrel::cli::Command command = adder(app);
    commands[app.get_subcommands({}).at(before)] = std::move(command);
  };
  add(kestrel::cli::add_convert_command);
  add(kestrel::cli::add_run_command);
  add(kestrel::cli::add_bench_command);
  add(kestrel::cli::add_inspect_command);
  add(kestrel::cli::add_eval_command);
  add(kestrel::cli::add_compare_command);
  add(kestrel::cli::add_report_command);
  add(kestrel::cli::add_serve_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    // One line, as for every other error (CLI11's own format adds a second).
    std::string command = "kestrel";
    for (const CLI::App* sub : app.get_subcommands()) command += " " + sub->get_name();
    std::cerr << command << ": error: " << error.what() << " (see " << command << " --help)\n";
    return error.get_exit_code() == 0 ? 0 : 2;
  }
  for (auto& [subcommand, command] : commands) {
    if (!subcommand->parsed()) continue;
    kestrel::Status status;
    try {
      status = command();
    } catch (const std::bad_alloc&) {
      status = kestrel::Status(kestrel::StatusCode::kInternal, "out of memory");
    }
    if (!status.ok()) {
      std::cerr << "kestrel " << subcommand->get_name() << ": error: " << status.message() << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

// Every error ends as one line and exit status 1; an exception that escapes
// a command (a library's, not Kestrel's: Kestrel returns Status) too.
int main(int argc, char** argv) {
  try {
    return run_cli(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "kestrel: error: " << error.what() << "\n";
    return 1;
  }
}
