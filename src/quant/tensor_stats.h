// TensorStats: streaming statistics of one tensor over many calibration
// batches, in memory that does not grow with the number of batches.
//
// The histogram is of |x|, not x: the thresholds it feeds are symmetric (int8)
// or start at zero (uint8 for non-negative tensors), so only magnitudes matter,
// and folding the sign doubles the resolution for the same number of bins.
//
// Bins are [i * w, (i + 1) * w) with a power-of-two width w, the smallest one
// whose range num_bins * w exceeds every |x| seen so far. When a batch exceeds
// the range, w doubles as often as needed and every 2^k old bins merge into one
// new bin. Because the new edges are a subset of the old ones, no count moves
// across an edge: the re-binned histogram is exactly the one a single pass with
// the final width would have built, and merge() of per-thread stats equals one
// pass over all data. The price is resolution: the range can be up to twice the
// largest |x|, so as few as half the bins may hold data.
//
// NaN and +-Inf are counted in nonfinite_count() and otherwise ignored, so one
// corrupt value cannot stretch the range to infinity.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"

namespace kestrel {

class TensorStats {
 public:
  static constexpr int kDefaultNumBins = 2048;

  explicit TensorStats(int num_bins = kDefaultNumBins);

  void add(const float* data, int64_t count);
  // Folds `other` in (for parallel collection); both must have the same
  // number of bins.
  Status merge(const TensorStats& other);

  bool empty() const { return count_ == 0; }
  // Finite values seen.
  int64_t count() const { return count_; }
  int64_t nonfinite_count() const { return nonfinite_count_; }
  // Exact extremes of the finite values (0 when empty).
  float min() const { return count_ == 0 ? 0.0f : min_; }
  float max() const { return count_ == 0 ? 0.0f : max_; }
  float max_abs() const;

  int num_bins() const { return static_cast<int>(histogram_.size()); }
  float bin_width() const;
  // Upper edge of the last bin.
  float histogram_range() const { return bin_width() * static_cast<float>(num_bins()); }
  const std::vector<int64_t>& histogram() const { return histogram_; }
  // Index of the last non-empty bin, -1 when empty.
  int last_nonzero_bin() const;
  // The bin width is 2^width_exponent().
  int width_exponent() const { return width_exponent_; }

  // Stats saved from the accessors above (the calibration cache). Fails,
  // saying why, on parts no sequence of add() calls could have produced.
  static StatusOr<TensorStats> restore(std::vector<int64_t> histogram, int width_exponent, int64_t count,
                                       int64_t nonfinite_count, float min, float max);

 private:
  // Widens the bins until |x| <= max_abs fits.
  void grow_to_cover(float max_abs);
  // Re-bins the histogram to width 2^new_exponent (>= the current one).
  void rebin(int new_exponent);

  std::vector<int64_t> histogram_;
  int width_exponent_;  // bin width is 2^width_exponent_
  int64_t count_ = 0;
  int64_t nonfinite_count_ = 0;
  float min_ = 0.0f;
  float max_ = 0.0f;
};

}  // namespace kestrel
