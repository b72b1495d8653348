#include "quant/accuracy.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <optional>

#include "io/batch_loader.h"
#include "io/progress.h"

namespace kestrel {

std::vector<int64_t> class_ranking(const float* logits, int64_t classes) {
  std::vector<int64_t> order(static_cast<size_t>(classes));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  return order;
}

namespace {

Status check_logits(const Tensor& logits, int64_t batch) {
  if (logits.dtype() != DType::kFloat32 || logits.rank() != 2 || logits.dim(0) != batch || logits.dim(1) < 1) {
    return invalid_argument("output must be float32 [", batch, ",classes]; got ", dtype_name(logits.dtype()), " ",
                            shape_string(logits.shape()));
  }
  return {};
}

}  // namespace

Status check_classifier(Session& session, const std::string& model, const Dataset& dataset, const PreprocessSpec& spec,
                        const PreprocessedSize& size, const std::string& labels_source) {
  const Graph& graph = session.graph();
  if (graph.inputs.size() != 1 || graph.outputs.size() != 1) {
    return invalid_argument(model, ": a classifier has one input and one output; this model has ", graph.inputs.size(),
                            " and ", graph.outputs.size());
  }
  const Tensor& input = session.input(0);
  if (input.dtype() != preprocessed_dtype(spec) || (!spec.raw_frame && input.rank() != 4)) {
    return invalid_argument(model, ": input '", graph.value(graph.inputs[0]).name, "' must be ",
                            spec.raw_frame ? "uint8 frames" : "float32 [N,C,H,W]", "; it is ",
                            dtype_name(input.dtype()), " ", shape_string(input.shape()));
  }
  const Shape expected = preprocessed_batch_shape(spec, size, input.dim(0));
  if (input.shape() != expected) {
    return invalid_argument(model, ": takes input ", shape_string(input.shape()), " but the preprocessing makes ",
                            shape_string(expected));
  }
  const Status logits = check_logits(session.output(0), input.dim(0));
  if (!logits.ok()) return logits.with_context(model);
  if (!dataset.has_labels()) return invalid_argument(labels_source, ": the dataset has no labels");
  return check_labels_fit(dataset, session.output(0).dim(1), labels_source);
}

StatusOr<Accuracy> measure_accuracy(Session& session, const Dataset& dataset, const PreprocessSpec& spec,
                                    const PreprocessedSize& size, const AccuracyOptions& options) {
  const int64_t batch_size = session.input(0).dim(0);
  const int64_t classes = session.output(0).dim(1);
  Accuracy accuracy;
  accuracy.class_images.assign(static_cast<size_t>(classes), 0);
  accuracy.class_top1.assign(static_cast<size_t>(classes), 0);
  const auto start = std::chrono::steady_clock::now();
  KESTREL_ASSIGN_OR_RETURN(auto loader,
                           BatchLoader::create(dataset, spec, size, dataset.size(), batch_size, options.workers));
  ProgressBar progress(options.progress_label, dataset.size(),
                       !options.progress_label.empty() && ProgressBar::stderr_is_terminal());
  const int64_t top_k = std::min<int64_t>(5, classes);
  for (;;) {
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> batch, loader->next());
    if (!batch) break;
    Tensor& input = session.input(0);
    if (input.nbytes() != batch->input.nbytes() || input.dtype() != batch->input.dtype()) {
      return internal_error("a batch of ", batch->input.nbytes(), " bytes for a model input of ", input.nbytes());
    }
    std::memcpy(input.raw_data(), batch->input.raw_data(), input.nbytes());
    KESTREL_RETURN_IF_ERROR(session.run());
    const Tensor& logits = session.output(0);
    KESTREL_RETURN_IF_ERROR(check_logits(logits, batch_size));
    for (int64_t b = 0; b < batch->count; ++b) {
      const std::vector<int64_t> order = class_ranking(logits.data<float>() + b * classes, classes);
      const int64_t label = batch->labels[static_cast<size_t>(b)];
      if (label < 0 || label >= classes) {
        return invalid_argument("image ", batch->first + b, ": label ", label, " is not one of the model's ", classes,
                                " classes");
      }
      const bool hit = order[0] == label;
      accuracy.top1 += hit;
      accuracy.top5 += std::find(order.begin(), order.begin() + top_k, label) != order.begin() + top_k;
      ++accuracy.class_images[static_cast<size_t>(label)];
      accuracy.class_top1[static_cast<size_t>(label)] += hit;
      ++accuracy.images;
      if (options.observe) options.observe(batch->first + b, order, label);
    }
    progress.update(accuracy.images);
  }
  progress.finish();
  accuracy.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return accuracy;
}

}  // namespace kestrel
