// Calibration: runs the optimized FP32 graph over batches of representative
// inputs and streams the values of the tensors the quantizer needs into
// histograms (memory stays bounded by the number of tensors, never by the
// number of images).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "quant/tensor_stats.h"

namespace kestrel {

class Session;

class Calibrator {
 public:
  // `graph`: optimized FP32 graph with static shapes and one float32 input
  // whose first dim is the calibration batch. `tensors`: value names to
  // collect (each must exist).
  static StatusOr<std::unique_ptr<Calibrator>> create(Graph graph, const std::vector<std::string>& tensors,
                                                      int threads);
  ~Calibrator();

  // The input to fill before run().
  Tensor& input();
  int64_t batch() const;
  // Runs the input and adds the first `count` rows (<= batch) to the statistics.
  Status run(int64_t count);
  int64_t images() const { return images_; }
  const std::map<std::string, TensorStats>& stats() const { return stats_; }
  // The real rows of the first batch run (for the per-layer error report).
  const Tensor& first_batch() const { return first_batch_; }

 private:
  Calibrator() = default;
  void observe(const Tensor& tensor, TensorStats& stats) const;

  std::unique_ptr<Session> session_;
  std::map<std::string, TensorStats> stats_;
  int64_t rows_ = 0;  // rows of the current run that count
  int64_t images_ = 0;
  Tensor first_batch_;
};

}  // namespace kestrel
