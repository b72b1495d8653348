#include "quant/tensor_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kestrel {
namespace {

// Narrow enough that any finite float's first batch only ever widens it; zeros
// seen before any non-zero value stay in bin 0 under every later width.
constexpr int kInitialWidthExponent = std::numeric_limits<float>::min_exponent - 40;
// Shifting a bin index by this much or more always lands in bin 0.
constexpr int kMaxIndexShift = 62;
constexpr int kMinNumBins = 1;

// Smallest exponent e with max_abs < num_bins * 2^e.
int exponent_covering(float max_abs, int num_bins) {
  int exponent = 0;
  std::frexp(static_cast<double>(max_abs) / num_bins, &exponent);
  while (std::ldexp(static_cast<double>(max_abs), -exponent) >= num_bins) ++exponent;
  return exponent;
}

}  // namespace

TensorStats::TensorStats(int num_bins)
    : histogram_(static_cast<size_t>(std::max(num_bins, kMinNumBins)), 0), width_exponent_(kInitialWidthExponent) {}

float TensorStats::max_abs() const { return std::max(std::fabs(min()), std::fabs(max())); }

float TensorStats::bin_width() const { return static_cast<float>(std::ldexp(1.0, width_exponent_)); }

int TensorStats::last_nonzero_bin() const {
  for (int i = num_bins() - 1; i >= 0; --i) {
    if (histogram_[static_cast<size_t>(i)] != 0) return i;
  }
  return -1;
}

void TensorStats::rebin(int new_exponent) {
  const int shift = new_exponent - width_exponent_;
  if (shift <= 0) return;
  std::vector<int64_t> merged(histogram_.size(), 0);
  for (size_t i = 0; i < histogram_.size(); ++i) {
    const size_t target = shift >= kMaxIndexShift ? 0 : (i >> shift);
    merged[target] += histogram_[i];
  }
  histogram_ = std::move(merged);
  width_exponent_ = new_exponent;
}

void TensorStats::grow_to_cover(float max_abs) {
  if (max_abs == 0.0f) return;
  rebin(std::max(width_exponent_, exponent_covering(max_abs, num_bins())));
}

void TensorStats::add(const float* data, int64_t count) {
  float batch_min = std::numeric_limits<float>::infinity();
  float batch_max = -std::numeric_limits<float>::infinity();
  int64_t finite = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(data[i])) continue;
    batch_min = std::min(batch_min, data[i]);
    batch_max = std::max(batch_max, data[i]);
    ++finite;
  }
  nonfinite_count_ += count - finite;
  if (finite == 0) return;
  min_ = count_ == 0 ? batch_min : std::min(min_, batch_min);
  max_ = count_ == 0 ? batch_max : std::max(max_, batch_max);
  count_ += finite;
  grow_to_cover(std::max(std::fabs(batch_min), std::fabs(batch_max)));

  const int last_bin = num_bins() - 1;
  // Scaling by a power of two is exact (in double, for any float), so the bin
  // never depends on rounding.
  const double inverse_width = std::ldexp(1.0, -width_exponent_);
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(data[i])) continue;
    const double scaled = static_cast<double>(std::fabs(data[i])) * inverse_width;
    const int bin = std::min(static_cast<int>(scaled), last_bin);
    ++histogram_[static_cast<size_t>(bin)];
  }
}

Status TensorStats::merge(const TensorStats& other) {
  if (other.num_bins() != num_bins()) {
    return invalid_argument("cannot merge tensor statistics with ", other.num_bins(), " bins into one with ",
                            num_bins(), " bins");
  }
  nonfinite_count_ += other.nonfinite_count_;
  if (other.empty()) return Status::ok_status();
  min_ = empty() ? other.min_ : std::min(min_, other.min_);
  max_ = empty() ? other.max_ : std::max(max_, other.max_);
  count_ += other.count_;
  rebin(other.width_exponent_);
  const int shift = width_exponent_ - other.width_exponent_;
  for (size_t i = 0; i < other.histogram_.size(); ++i) {
    const size_t target = shift >= kMaxIndexShift ? 0 : (i >> shift);
    histogram_[target] += other.histogram_[i];
  }
  return Status::ok_status();
}

StatusOr<TensorStats> TensorStats::restore(std::vector<int64_t> histogram, int width_exponent, int64_t count,
                                           int64_t nonfinite_count, float min, float max) {
  if (histogram.empty()) return invalid_argument("no histogram bins");
  if (count < 0 || nonfinite_count < 0) return invalid_argument("negative counts");
  int64_t total = 0;
  for (int64_t bin : histogram) {
    if (bin < 0) return invalid_argument("a negative histogram count");
    total += bin;
  }
  if (total != count) return invalid_argument("histogram holds ", total, " values, count says ", count);
  if (count > 0 && !(std::isfinite(min) && std::isfinite(max) && min <= max))
    return invalid_argument("min ", min, " and max ", max, " are not an ordered pair of finite values");
  if (width_exponent < kInitialWidthExponent || width_exponent > std::numeric_limits<float>::max_exponent)
    return invalid_argument("bin width 2^", width_exponent, " out of range");
  TensorStats stats(static_cast<int>(histogram.size()));
  stats.histogram_ = std::move(histogram);
  stats.width_exponent_ = width_exponent;
  stats.count_ = count;
  stats.nonfinite_count_ = nonfinite_count;
  stats.min_ = min;
  stats.max_ = max;
  if (count > 0 && stats.max_abs() >= stats.histogram_range())
    return invalid_argument("max |x| ", stats.max_abs(), " lies beyond the histogram's range");
  return stats;
}

}  // namespace kestrel
