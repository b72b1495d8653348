// Preprocessed sample inputs (the first calibration images) and a run of a
// float graph over them that hands every watched value to the caller in its
// plain NCHW form: what bias correction and cross-layer equalization measure.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

// Model inputs at a graph's input shape; counts[i] of the rows of
// batches[i] are real images.
struct SampleBatches {
  std::vector<Tensor> batches;
  std::vector<int64_t> counts;
  int64_t images() const;
};

// Called for each watched value of each batch: its values in plain order
// (int8/uint8 dequantized, NHWC put back in NCHW) and how many leading
// batch rows are real. An error stops the run and is returned.
using SampleObserver = std::function<Status(const Value& value, const std::vector<float>& plain, int64_t rows)>;

// Compiles `graph` for the CPU and runs it on every sample batch, watching
// the values named in `watched` (the graph input included). `what` names
// the caller in errors.
Status observe_samples(const Graph& graph, const SampleBatches& samples, int threads,
                       const std::set<std::string>& watched, const std::string& what, const SampleObserver& observe);

// 10 log10(|reference|^2 / |reference - candidate|^2) over the common
// length; 200 when they are equal.
double signal_to_noise_db(const std::vector<float>& reference, const std::vector<float>& candidate);

}  // namespace kestrel
