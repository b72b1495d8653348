// kestrel run: run a model on tensors from .npy / .pb files, or on images
// (decoded and preprocessed as in eval), and write every graph output as
// NAME.npy and NAME.pb; with images, print each one's top classes.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>

#include "commands.h"
#include "format/model_file.h"
#include "frontend/onnx/onnx_tensor.h"
#include "io/dataset.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/preprocess.h"
#include "runtime/interpreter.h"

namespace kestrel::cli {
namespace {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::vector<std::string> images;
  std::string preprocess, class_names;
  int64_t top = 5;
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

// Where each output goes (DIR/STEM.npy and .pb), refusing two outputs that
// would share a file ("y:1" and "y_1") and an output that would overwrite a
// file this run reads (the model, an input tensor, an image).
StatusOr<std::vector<std::string>> output_stems(const std::string& dir, const std::vector<std::string>& names,
                                                const std::vector<std::string>& read_files) {
  std::vector<std::string> stems;
  std::map<std::string, std::string> owner;  // stem -> output name
  for (const std::string& name : names) {
    const std::string stem = (std::filesystem::path(dir) / file_stem(name)).string();
    auto [it, fresh] = owner.emplace(stem, name);
    if (!fresh) {
      return invalid_argument("outputs '", it->second, "' and '", name, "' would both be written to ", stem,
                              ".{npy,pb}; give them distinct names");
    }
    for (const char* extension : {".npy", ".pb"}) {
      const std::string target = stem + extension;
      for (const std::string& read : read_files) {
        std::error_code error;
        if (std::filesystem::equivalent(target, read, error)) {
          return invalid_argument("output '", name, "' would overwrite ", read, ", which this run reads (", target,
                                  "); choose another --output-dir");
        }
      }
    }
    stems.push_back(stem);
  }
  return stems;
}

// The images, preprocessed into one [N, C, H, W] (or NHWC) batch.
StatusOr<Tensor> image_batch(const RunOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec,
                           image_preprocessing(options.model, options.preprocess, "--image"));
  Tensor batch;
  for (size_t i = 0; i < options.images.size(); ++i) {
    const std::string& path = options.images[i];
    KESTREL_ASSIGN_OR_RETURN(const Image image, decode_image_file(path));
    auto size = preprocessed_size(spec, image.height, image.width, image.channels);
    if (!size.ok()) return size.status().with_context(path);
    const Shape shape = preprocessed_batch_shape(spec, *size, static_cast<int64_t>(options.images.size()));
    if (i == 0) batch = Tensor(preprocessed_dtype(spec), shape);
    if (batch.shape() != shape) {
      return invalid_argument(path, ": preprocesses to another size than ", options.images[0],
                              " (add a resize or center_crop to the spec)");
    }
    const size_t per_image = batch.nbytes() / static_cast<size_t>(batch.dim(0));
    KESTREL_RETURN_IF_ERROR(
        preprocess_image(spec, image, static_cast<uint8_t*>(batch.raw_data()) + i * per_image).with_context(path));
  }
  return batch;
}

Status print_top_classes(const RunOptions& options, const std::vector<std::string>& names, const Tensor& logits) {
  if (logits.dtype() != DType::kFloat32 || logits.rank() != 2) return {};
  const int64_t classes = logits.dim(1);
  if (!names.empty() && static_cast<int64_t>(names.size()) != classes) {
    return invalid_argument(options.class_names, ": has ", names.size(), " class names but the model has ", classes,
                            " classes");
  }
  for (int64_t b = 0; b < logits.dim(0) && b < static_cast<int64_t>(options.images.size()); ++b) {
    const float* row = logits.data<float>() + b * classes;
    std::vector<int64_t> order(static_cast<size_t>(classes));
    for (int64_t c = 0; c < classes; ++c) order[static_cast<size_t>(c)] = c;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return row[x] > row[y]; });
    std::cout << options.images[static_cast<size_t>(b)] << ":";
    for (int64_t k = 0; k < std::min(options.top, classes); ++k) {
      const int64_t c = order[static_cast<size_t>(k)];
      std::cout << "  " << c;
      if (static_cast<size_t>(c) < names.size()) std::cout << " (" << names[static_cast<size_t>(c)] << ")";
      std::cout << " " << row[c];
    }
    std::cout << "\n";
  }
  return {};
}

// --input NAME=FILE (or FILE for a one-input model) as name -> file; a name
// given twice is an error.
StatusOr<std::map<std::string, std::string>> input_files(const RunOptions& options,
                                                         const std::vector<std::string>& names) {
  std::map<std::string, std::string> files;
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
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return invalid_argument("--input '", spec, "': '", name, "' is not an input of the model");
    }
    const auto [it, added] = files.emplace(name, path);
    if (!added) {
      return invalid_argument("--input: input '", name, "' is given twice (", it->second, " and ", path, ")");
    }
  }
  return files;
}

Status run(const RunOptions& options) {
  if (options.inputs.empty() == options.images.empty()) {
    return invalid_argument("give the inputs either as --input tensors or as --image files");
  }
  if (options.images.empty() && options.output_dir.empty()) return invalid_argument("--input needs --output-dir");
  if (options.reference && is_kestrel_file(options.model)) {
    return invalid_argument("--reference runs the source .onnx model, not a compiled .kestrel one");
  }
  std::vector<std::string> class_names;
  if (!options.class_names.empty()) {
    if (options.images.empty()) return invalid_argument("--class-names applies to --image runs");
    KESTREL_ASSIGN_OR_RETURN(class_names, read_class_names(options.class_names));
  }
  KESTREL_ASSIGN_OR_RETURN(std::vector<std::string> names, model_input_names(options.model));
  std::map<std::string, Tensor> inputs;
  if (!options.images.empty()) {
    if (names.size() != 1) return invalid_argument("--image needs a model with one input; this one has ", names.size());
    KESTREL_ASSIGN_OR_RETURN(inputs[names[0]], image_batch(options));
  }
  KESTREL_ASSIGN_OR_RETURN(const auto files, input_files(options, names));
  for (const auto& [name, path] : files) {
    KESTREL_ASSIGN_OR_RETURN(inputs[name], read_tensor_file(path));
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

  if (!options.images.empty() && !outputs.empty()) {
    KESTREL_RETURN_IF_ERROR(print_top_classes(options, class_names, outputs[0]));
  }
  if (options.output_dir.empty()) return {};
  std::error_code error;
  std::filesystem::create_directories(options.output_dir, error);
  if (error) return not_found(options.output_dir, ": cannot create directory: ", error.message());
  std::vector<std::string> read_files = {options.model};
  for (const auto& [name, path] : files) read_files.push_back(path);
  read_files.insert(read_files.end(), options.images.begin(), options.images.end());
  KESTREL_ASSIGN_OR_RETURN(const std::vector<std::string> stems,
                           output_stems(options.output_dir, output_names, read_files));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = output_names[i];
    const std::string& stem = stems[i];
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
  cmd->add_option("--input", options->inputs, "NAME=FILE (.npy or .pb); FILE alone for a one-input model");
  cmd->add_option("--image", options->images, "Image file(s) (PNG/JPEG) for a one-input model; one batch")
      ->check(CLI::ExistingFile);
  cmd->add_option("--preprocess", options->preprocess, "Preprocessing spec (JSON) for --image");
  cmd->add_option("--class-names", options->class_names, "With --image: one class name per line");
  cmd->add_option("--top", options->top, "With --image: classes to print per image (default 5)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000}));
  cmd->add_option("--output-dir", options->output_dir, "Where to write NAME.npy and NAME.pb (optional with --image)");
  cmd->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_flag("--reference", options->reference, "Run the .onnx model on the reference interpreter instead");
  return [options] { return run(*options); };
}

}  // namespace kestrel::cli
