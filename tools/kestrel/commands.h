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
#include "kernels/image_preprocess.h"
#include "passes/shape_inference.h"
#include "runtime/session.h"

namespace kestrel::cli {

using Command = std::function<Status()>;

Command add_convert_command(CLI::App& app);
Command add_run_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_inspect_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_serve_command(CLI::App& app);

bool is_kestrel_file(const std::string& path);
StatusOr<std::vector<std::string>> model_input_names(const std::string& path);

// Imports an ONNX model (the graph the reference interpreter runs).
StatusOr<std::shared_ptr<const Graph>> load_onnx_model(const std::string& path);

// The preprocessing images need for `model`: a baked model's own (its
// frames; `preprocess` is then not used, with a note), else the spec file
// `preprocess`, which `needed_by` (e.g. "--image") then requires.
StatusOr<PreprocessSpec> image_preprocessing(const std::string& model, const std::string& preprocess,
                                             const char* needed_by);

// A model ready to run fast: a .kestrel file as compiled, or an ONNX model
// compiled now for `shapes` (dynamic dims not named there become 1).
struct OpenedModel {
  std::unique_ptr<Session> session;
  double load_ms = 0;  // open to ready-to-run
};
// `batch` > 0: a .kestrel file compiled for another batch is an error, given
// before any session (and its weight packing) is made.
StatusOr<OpenedModel> open_model(const std::string& path, const InputShapes& shapes, const SessionOptions& options,
                                 int64_t batch = 0);

}  // namespace kestrel::cli
