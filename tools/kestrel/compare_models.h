// Runs a reference and a candidate model on the same images and compares
// every tensor both name alike (quant/compare.h): `kestrel compare` and the
// per-layer error of `kestrel report`. Either model may be a .kestrel file
// (run fast) or an .onnx file (run by the reference interpreter, at the
// candidate's batch shape).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "quant/compare.h"

namespace kestrel::cli {

struct ModelComparison {
  int64_t images = 0;
  std::vector<TensorComparison> rows;  // worst first; never empty
};

// Every image of `slice`; `progress_label` empty: no progress bar.
StatusOr<ModelComparison> compare_models(const std::string& reference_path, const std::string& candidate_path,
                                         const Dataset& slice, const PreprocessSpec& spec, int threads,
                                         const std::string& progress_label);

}  // namespace kestrel::cli
