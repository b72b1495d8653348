// Classification accuracy of a compiled model on a labelled dataset: top-1,
// top-5 and top-1 per class, the model run on whole batches (a last partial
// one padded with zeros) while worker threads decode the next images.
// `kestrel eval`, `kestrel report` and the accuracy guard of `convert` use it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "runtime/session.h"

namespace kestrel {

struct Accuracy {
  int64_t images = 0, top1 = 0, top5 = 0;
  // Per label (size: the model's classes): images with that label, and how
  // many of them the model ranked first.
  std::vector<int64_t> class_images, class_top1;
  double seconds = 0;  // first batch loaded to last logits read

  double top1_rate() const { return images > 0 ? static_cast<double>(top1) / static_cast<double>(images) : 0.0; }
  double top5_rate() const { return images > 0 ? static_cast<double>(top5) / static_cast<double>(images) : 0.0; }
};

struct AccuracyOptions {
  int workers = 1;             // decoding threads
  std::string progress_label;  // empty: no progress bar (also none when stderr is not a terminal)
  // Called for each image in dataset order with its class ranking (best
  // first) and label; e.g. `kestrel eval --show`.
  std::function<void(int64_t index, const std::vector<int64_t>& ranking, int64_t label)> observe;
};

// Checks that `session` is a classifier for `dataset` preprocessed by
// `spec`: one float32 [N,C,H,W] input of the preprocessed size, one float32
// [N,classes] output, every label below `classes`. `model` names the model in
// errors, `labels_source` the labels (file or folder).
Status check_classifier(Session& session, const std::string& model, const Dataset& dataset, const PreprocessSpec& spec,
                        const PreprocessedSize& size, const std::string& labels_source);

// Runs every image of `dataset` through `session` (check_classifier first).
StatusOr<Accuracy> measure_accuracy(Session& session, const Dataset& dataset, const PreprocessSpec& spec,
                                    const PreprocessedSize& size, const AccuracyOptions& options = {});

// The classes ranked by `logits` (`classes` of them), best first; ties keep index order.
std::vector<int64_t> class_ranking(const float* logits, int64_t classes);

}  // namespace kestrel
