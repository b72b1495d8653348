// kestrel eval: top-1 / top-5 accuracy of a classifier on a labelled dataset
// (IDX files such as Fashion-MNIST, or a folder of PNG/JPEG images), with the
// preprocessing given as JSON.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "commands.h"
#include "io/batch_loader.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "io/progress.h"
#include "runtime/session.h"

namespace kestrel::cli {
namespace {

// More threads than this is a typo, not a machine.
constexpr int kMaxThreads = kMaxSessionThreads;

struct EvalOptions {
  std::string model, dataset, labels, preprocess, class_names;
  int64_t limit = -1;
  int64_t offset = 0;
  int64_t batch = 8;
  int64_t show = 0;
  int threads = 1;
  int workers = 1;
  bool json = false;
};

struct Tally {
  int64_t images = 0, top1 = 0, top5 = 0;
};

// Ranks of the classes for one row of logits, best first.
std::vector<int64_t> ranking(const float* logits, int64_t classes) {
  std::vector<int64_t> order(static_cast<size_t>(classes));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  return order;
}

std::string class_label(const std::vector<std::string>& names, int64_t index) {
  if (index >= 0 && static_cast<size_t>(index) < names.size())
    return str_cat(index, " (", names[static_cast<size_t>(index)], ")");
  return std::to_string(index);
}

Status check_model_io(const Graph& graph) {
  if (graph.inputs.size() != 1 || graph.outputs.size() != 1) {
    return invalid_argument("eval needs a model with one input and one output; this one has ", graph.inputs.size(),
                            " and ", graph.outputs.size());
  }
  const Value& input = graph.value(graph.inputs[0]);
  if (input.dtype != DType::kFloat32 || (input.shape_known && input.shape.size() != 4)) {
    return invalid_argument("input '", input.name, "' must be float32 [N,C,H,W]; it is ", dtype_name(input.dtype), " ",
                            shape_string(input.shape));
  }
  return {};
}

StatusOr<std::unique_ptr<Dataset>> open_eval_dataset(const EvalOptions& options) {
  const bool folder = std::filesystem::is_directory(options.dataset);
  if (!folder && options.labels.empty()) return invalid_argument("--labels is required with an IDX dataset");
  if (folder && !options.labels.empty()) {
    return invalid_argument("--labels applies to IDX datasets; the labels of the image folder ", options.dataset,
                            " are its class folders (or its labels.txt)");
  }
  KESTREL_ASSIGN_OR_RETURN(
      auto dataset, options.offset > 0
                        ? open_dataset_slice(options.dataset, options.labels, options.offset, options.limit, "--limit")
                        : open_dataset(options.dataset, options.labels, options.limit));
  if (!dataset->has_labels()) {
    return invalid_argument(options.dataset, ": has no labels (put images in class folders or add a labels.txt)");
  }
  return dataset;
}

// Before any image is run: the dataset's labels, and the class names when
// given, must fit the model's classes.
Status check_classes(const EvalOptions& options, const Tensor& logits, const Dataset& dataset,
                     const std::vector<std::string>& names) {
  if (logits.dtype() != DType::kFloat32 || logits.rank() != 2) {
    return invalid_argument("output must be float32 [N,classes]; got ", dtype_name(logits.dtype()), " ",
                            shape_string(logits.shape()));
  }
  const int64_t classes = logits.dim(1);
  KESTREL_RETURN_IF_ERROR(
      check_labels_fit(dataset, classes, options.labels.empty() ? options.dataset : options.labels));
  if (!options.class_names.empty() && static_cast<int64_t>(names.size()) != classes) {
    return invalid_argument(options.class_names, ": has ", names.size(), " class names but the model has ", classes,
                            " classes");
  }
  return {};
}

Status eval(const EvalOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(PreprocessSpec spec, read_preprocess_file(options.preprocess));
  KESTREL_ASSIGN_OR_RETURN(auto dataset, open_eval_dataset(options));
  std::vector<std::string> names = dataset->class_names();
  if (!options.class_names.empty()) {
    KESTREL_ASSIGN_OR_RETURN(names, read_class_names(options.class_names));
  }
  const int64_t count = dataset->size();
  if (count == 0) return invalid_argument(options.dataset, ": no images to evaluate");
  // The first image fixes the model's input shape; every other must match it.
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(*dataset, spec));
  KESTREL_ASSIGN_OR_RETURN(auto input_names, model_input_names(options.model));
  InputShapes shapes;
  if (!is_kestrel_file(options.model) && !input_names.empty()) {
    shapes[input_names[0]] = preprocessed_batch_shape(spec, size, options.batch);
  }
  KESTREL_ASSIGN_OR_RETURN(OpenedModel opened, open_model(options.model, shapes, {.threads = options.threads}));
  Session& session = *opened.session;
  KESTREL_RETURN_IF_ERROR(check_model_io(session.graph()));
  const Shape expected_input = preprocessed_batch_shape(spec, size, session.input(0).dim(0));
  if (session.input(0).shape() != expected_input) {
    return invalid_argument(options.model, ": takes input ", shape_string(session.input(0).shape()),
                            " but the preprocessing makes ", shape_string(expected_input));
  }
  KESTREL_RETURN_IF_ERROR(check_classes(options, session.output(0), *dataset, names));
  const int64_t model_batch = session.input(0).dim(0);
  const auto start = std::chrono::steady_clock::now();
  // The model runs whole batches; the loader pads a last partial one with zeros.
  KESTREL_ASSIGN_OR_RETURN(auto loader, BatchLoader::create(*dataset, spec, size, count, model_batch, options.workers));
  ProgressBar progress("eval", count, !options.json && ProgressBar::stderr_is_terminal());
  Tally tally;
  for (;;) {
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> batch, loader->next());
    if (!batch) break;
    Tensor& input = session.input(0);
    std::copy_n(batch->input.data<float>(), input.size(), input.data<float>());
    KESTREL_RETURN_IF_ERROR(session.run());
    const Tensor& logits = session.output(0);
    if (logits.dtype() != DType::kFloat32 || logits.rank() != 2 || logits.dim(0) != model_batch) {
      return invalid_argument("output must be float32 [N,classes]; got ", dtype_name(logits.dtype()), " ",
                              shape_string(logits.shape()));
    }
    const int64_t classes = logits.dim(1);
    for (int64_t b = 0; b < batch->count; ++b) {
      const auto order = ranking(logits.data<float>() + b * classes, classes);
      const int64_t label = batch->labels[static_cast<size_t>(b)];
      const bool hit = order[0] == label;
      tally.top1 += hit;
      tally.top5 += std::find(order.begin(), order.begin() + std::min<int64_t>(5, classes), label) !=
                    order.begin() + std::min<int64_t>(5, classes);
      if (tally.images++ < options.show) {
        std::printf("image %5lld: predicted %-18s label %-18s %s\n", static_cast<long long>(batch->first) + b,
                    class_label(names, order[0]).c_str(), class_label(names, label).c_str(), hit ? "ok" : "WRONG");
      }
    }
    progress.update(tally.images);
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double top1 = tally.images ? static_cast<double>(tally.top1) / tally.images : 0.0;
  const double top5 = tally.images ? static_cast<double>(tally.top5) / tally.images : 0.0;
  if (options.json) {
    nlohmann::json out = {{"top1", top1},
                          {"top5", top5},
                          {"images", tally.images},
                          {"images_per_s", tally.images / seconds},
                          {"model", options.model}};
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%s: %lld images, top-1 %.2f %%, top-5 %.2f %%, %.1f images/s\n", options.model.c_str(),
                static_cast<long long>(tally.images), 100 * top1, 100 * top5, tally.images / seconds);
  }
  return {};
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Top-1/top-5 accuracy of a classifier on a labelled dataset");
  cmd->add_option("--model", options->model, "Model file (.onnx or .kestrel)")->required();
  cmd->add_option("--dataset", options->dataset, "IDX image file (gzipped or not) or a folder of PNG/JPEG images")
      ->required();
  cmd->add_option("--labels", options->labels, "IDX label file, gzipped or not (IDX datasets only)");
  cmd->add_option("--preprocess", options->preprocess, "Preprocessing spec (JSON)")->required();
  cmd->add_option("--limit", options->limit, "Evaluate only the first N images (N >= 1)")
      ->check(CLI::Validator(
          [](const std::string& text) {
            int64_t value = 0;
            const auto [end, code] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (code != std::errc() || end != text.data() + text.size() || value < 1) {
              return "must be a positive number of images, not '" + text + "'";
            }
            return std::string();
          },
          "N>=1"));
  cmd->add_option("--offset", options->offset, "Skip the first K images (evaluate images K .. K+N-1 with --limit N)")
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  cmd->add_option("--batch", options->batch, "Images per run (an .onnx model is compiled for it)")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--show", options->show, "Print the prediction for the first N images");
  cmd->add_option("--class-names", options->class_names, "Text file with one class name per line");
  cmd->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, kMaxThreads));
  cmd->add_option("--workers", options->workers,
                  "Threads decoding and preprocessing images while the model runs (default 1)")
      ->check(CLI::Range(1, kMaxThreads));
  cmd->add_flag("--json", options->json, "Print one JSON object");
  return [options] { return eval(*options); };
}

}  // namespace kestrel::cli
