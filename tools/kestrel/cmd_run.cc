// kestrel run: run a model on tensors from .npy / .pb files and write every
// graph output as NAME.npy and NAME.pb.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.h"
#include "frontend/onnx/onnx_tensor.h"
#include "io/npy.h"
#include "format/model_file.h"
#include "runtime/interpreter.h"

namespace kestrel::cli {
namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  int threads = 1;
  bool reference = false;
};


StatusOr<Tensor> read_tensor_file(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".npy") return read_npy(path);
  if (extension == ".pb") return read_tensor_pb(path);
  return invalid_argument(path, ": unknown tensor file type '", extension, "' (expected .npy or .pb)");
}

// Output names may hold characters that are not safe in file names ("onnx::Gemm_5").
std::string file_stem(const std::string& name) {
  std::string stem = name;
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '_';
  }
  return stem;
}

Status run(const RunOptions& options) {
  if (options.reference && is_kestrel_file(options.model)) {
    return invalid_argument("--reference runs the source .onnx model, not a compiled .kestrel one");
  }
  KESTREL_ASSIGN_OR_RETURN(std::vector<std::string> names, model_input_names(options.model));
  std::map<std::string, Tensor> inputs;
  for (const std::string& spec : options.inputs) {
    const size_t equals = spec.find('=');
    std::string name = equals == std::string::npos ? "" : spec.substr(0, equals);
    const std::string path = equals == std::string::npos ? spec : spec.substr(equals + 1);
    if (name.empty()) {
      if (names.size() != 1) {
        return invalid_argument("--input '", spec, "': the model has ", names.size(), " inputs; write NAME=FILE");
      }
      name = names[0];
    }
    KESTREL_ASSIGN_OR_RETURN(Tensor tensor, read_tensor_file(path));
    inputs[name] = std::move(tensor);
  }
  std::vector<Tensor> outputs;
  std::vector<std::string> output_names;
  if (options.reference) {
    KESTREL_ASSIGN_OR_RETURN(auto graph, load_onnx_model(options.model));
    KESTREL_ASSIGN_OR_RETURN(Interpreter interpreter, Interpreter::create(graph));
    KESTREL_ASSIGN_OR_RETURN(outputs, interpreter.run(inputs));
    for (ValueId id : graph->outputs) output_names.push_back(graph->value(id).name);
  } else {
    InputShapes shapes;
    for (const auto& [name, tensor] : inputs) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        return invalid_argument("'", name, "' is not an input of the model");
      }
      shapes[name] = tensor.shape();
    }
    KESTREL_ASSIGN_OR_RETURN(OpenedModel opened, open_model(options.model, shapes, {.threads = options.threads}));
    KESTREL_ASSIGN_OR_RETURN(outputs, opened.session->run(inputs));
    const Graph& graph = opened.session->graph();
    for (ValueId id : graph.outputs) output_names.push_back(graph.value(id).name);
  }

  std::error_code error;
  std::filesystem::create_directories(options.output_dir, error);
  if (error) return not_found(options.output_dir, ": cannot create directory: ", error.message());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = output_names[i];
    const std::string stem = (std::filesystem::path(options.output_dir) / file_stem(name)).string();
    KESTREL_RETURN_IF_ERROR(write_npy(stem + ".npy", outputs[i]));
    KESTREL_RETURN_IF_ERROR(write_tensor_pb(stem + ".pb", outputs[i], name));
    std::cout << name << ": " << dtype_name(outputs[i].dtype()) << " " << shape_string(outputs[i].shape()) << " -> "
              << stem << ".{npy,pb}\n";
  }
  return {};
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model on input tensors and write its outputs");
  cmd->add_option("--model", options->model, "Model file (.onnx or .kestrel)")->required();
  cmd->add_option("--input", options->inputs, "NAME=FILE (.npy or .pb); FILE alone for a one-input model")
      ->required();
  cmd->add_option("--output-dir", options->output_dir, "Where to write NAME.npy and NAME.pb")->required();
  cmd->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, 256));
  cmd->add_flag("--reference", options->reference, "Run the .onnx model on the reference interpreter instead");
  return [options] { return run(*options); };
}

}  // namespace kestrel::cli
