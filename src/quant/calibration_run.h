// Calibration from data on disk: an image folder or IDX file (decoded and
// preprocessed on worker threads, overlapped with inference) or a .npy
// tensor of ready inputs, run in batches through the FP32 graph.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/tensor_stats.h"

namespace kestrel {

inline constexpr int64_t kDefaultCalibrationCount = 512;
inline constexpr int64_t kDefaultCalibrationBatch = 16;

// Caller-provided calibration batches: fills `batch` (float32, the declared
// batch shape) and returns how many of its rows are real images; 0 ends
// calibration.
using CalibrationSource = std::function<StatusOr<int64_t>(Tensor& batch)>;

struct CalibrationData {
  std::string path;                          // image folder, IDX image file (gzipped or not), or .npy [N, ...]
  std::string preprocess;                    // preprocessing spec (JSON); required for images
  int64_t count = kDefaultCalibrationCount;  // images [offset, offset + count) are used
  int64_t offset = 0;
  int64_t batch = kDefaultCalibrationBatch;
  int threads = 0;
  int workers = 1;        // decoding threads
  bool progress = false;  // progress bar on stderr
  // When set, batches come from here (of shape source_shape) and `path`,
  // `preprocess` and `count` are not used.
  CalibrationSource source;
  Shape source_shape;
  // Applied to the optimized FP32 graph before it runs (the converter's
  // cross-layer equalization); may be empty.
  std::function<Status(Graph&)> transform;
};

struct CalibrationResult {
  std::map<std::string, TensorStats> stats;  // one per requested tensor
  Tensor first_batch;                        // the first batch's real inputs (for the error report)
};

// `source`: the imported model (one float32 input; its batch dim is set to
// data.batch here). Returns statistics for each name in `tensors`.
StatusOr<CalibrationResult> calibrate(const Graph& source, const CalibrationData& data,
                                      const std::vector<std::string>& tensors);

}  // namespace kestrel
