// Subcommands of the `kestrel` CLI. Each registers its flags on the app and
// returns the function that runs it; the function returns a Status so main()
// prints exactly one error line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel::cli {

using Command = std::function<Status()>;

Command add_run_command(CLI::App& app);
Command add_inspect_command(CLI::App& app);
Command add_eval_command(CLI::App& app);

// Imports a model file; the one place the CLI decides how to read a model.
StatusOr<std::shared_ptr<const Graph>> load_model(const std::string& path);

}  // namespace kestrel::cli
