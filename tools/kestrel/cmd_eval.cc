// kestrel eval: top-1 / top-5 accuracy of a classifier on a labelled dataset
// (IDX files such as Fashion-MNIST, or a folder of PNG/JPEG images), with the
// preprocessing given as JSON.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "io/batch_loader.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "quant/accuracy.h"
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

std::string class_label(const std::vector<std::string>& names, int64_t index) {
  if (index >= 0 && static_cast<size_t>(index) < names.size())
    return str_cat(index, " (", names[static_cast<size_t>(index)], ")");
  return std::to_string(index);
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

Status eval(const EvalOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(PreprocessSpec spec, image_preprocessing(options.model, options.preprocess, "eval"));
  KESTREL_ASSIGN_OR_RETURN(auto dataset, open_eval_dataset(options));
  std::vector<std::string> names = dataset->class_names();
  if (!options.class_names.empty()) {
    KESTREL_ASSIGN_OR_RETURN(names, read_class_names(options.class_names));
  }
  if (dataset->size() == 0) return invalid_argument(options.dataset, ": no images to evaluate");
  // The first image fixes the model's input shape; every other must match it.
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(*dataset, spec));
  KESTREL_ASSIGN_OR_RETURN(auto input_names, model_input_names(options.model));
  InputShapes shapes;
  if (!is_kestrel_file(options.model) && !input_names.empty()) {
    shapes[input_names[0]] = preprocessed_batch_shape(spec, size, options.batch);
  }
  KESTREL_ASSIGN_OR_RETURN(OpenedModel opened, open_model(options.model, shapes, {.threads = options.threads}));
  Session& session = *opened.session;
  KESTREL_RETURN_IF_ERROR(check_classifier(session, options.model, *dataset, spec, size,
                                           options.labels.empty() ? options.dataset : options.labels));
  const int64_t classes = session.output(0).dim(1);
  if (!options.class_names.empty() && static_cast<int64_t>(names.size()) != classes) {
    return invalid_argument(options.class_names, ": has ", names.size(), " class names but the model has ", classes,
                            " classes");
  }
  AccuracyOptions run_options{.workers = options.workers, .progress_label = options.json ? "" : "eval"};
  int64_t shown = 0;
  run_options.observe = [&](int64_t index, const std::vector<int64_t>& order, int64_t label) {
    if (shown++ >= options.show) return;
    std::printf("image %5lld: predicted %-18s label %-18s %s\n", static_cast<long long>(index),
                class_label(names, order[0]).c_str(), class_label(names, label).c_str(),
                order[0] == label ? "ok" : "WRONG");
  };
  KESTREL_ASSIGN_OR_RETURN(const Accuracy accuracy, measure_accuracy(session, *dataset, spec, size, run_options));
  const double images_per_s = static_cast<double>(accuracy.images) / accuracy.seconds;
  if (options.json) {
    nlohmann::json out = {{"top1", accuracy.top1_rate()},
                          {"top5", accuracy.top5_rate()},
                          {"images", accuracy.images},
                          {"images_per_s", images_per_s},
                          {"model", options.model}};
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%s: %lld images, top-1 %.2f %%, top-5 %.2f %%, %.1f images/s\n", options.model.c_str(),
                static_cast<long long>(accuracy.images), 100 * accuracy.top1_rate(), 100 * accuracy.top5_rate(),
                images_per_s);
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
  cmd->add_option("--preprocess", options->preprocess,
                  "Preprocessing spec (JSON); not for a model with baked preprocessing, which has its own");
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
