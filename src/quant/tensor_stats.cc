#include "quant/tensor_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/parallel.h"

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

namespace {

// Below this many values a second thread costs more than it saves.
constexpr int64_t kParallelValues = int64_t{1} << 16;

struct Extremes {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  int64_t finite = 0;
};

struct AddJob {
  const float* data;
  int64_t count;
  int pieces;
  std::vector<Extremes>* extremes;   // per piece
  std::vector<int64_t>* histograms;  // per piece, num_bins each
  int num_bins;
  double inverse_width;
};

// Piece `piece` of the values: [count * piece / pieces, count * (piece + 1) / pieces).
void extremes_of(const void* context, int /*thread*/, int64_t begin, int64_t end) {
  const auto* job = static_cast<const AddJob*>(context);
  for (int64_t piece = begin; piece < end; ++piece) {
    Extremes e;
    const int64_t lo = job->count * piece / job->pieces, hi = job->count * (piece + 1) / job->pieces;
    for (int64_t i = lo; i < hi; ++i) {
      const float v = job->data[i];
      if (!std::isfinite(v)) continue;
      e.min = std::min(e.min, v);
      e.max = std::max(e.max, v);
      ++e.finite;
    }
    (*job->extremes)[static_cast<size_t>(piece)] = e;
  }
}

void histogram_of(const void* context, int /*thread*/, int64_t begin, int64_t end) {
  const auto* job = static_cast<const AddJob*>(context);
  const int last_bin = job->num_bins - 1;
  for (int64_t piece = begin; piece < end; ++piece) {
    int64_t* histogram = job->histograms->data() + piece * job->num_bins;
    const int64_t lo = job->count * piece / job->pieces, hi = job->count * (piece + 1) / job->pieces;
    for (int64_t i = lo; i < hi; ++i) {
      const float v = job->data[i];
      if (!std::isfinite(v)) continue;
      // Scaling by a power of two is exact (in double, for any float), so the
      // bin never depends on rounding.
      const double scaled = static_cast<double>(std::fabs(v)) * job->inverse_width;
      ++histogram[std::min(static_cast<int>(scaled), last_bin)];
    }
  }
}

}  // namespace

void TensorStats::add(const float* data, int64_t count) {
  // Large tensors are split over the session's threads (the calibration
  // run's, otherwise idle between its layers); the counts are the same.
  const int pieces = count >= kParallelValues ? std::max(1, cpu::max_threads()) : 1;
  std::vector<Extremes> extremes(static_cast<size_t>(pieces));
  std::vector<int64_t> histograms;
  AddJob job{data, count, pieces, &extremes, &histograms, num_bins(), 0.0};
  cpu::parallel_for(pieces, extremes_of, &job, pieces);
  Extremes batch;
  for (const Extremes& e : extremes) {
    batch.min = std::min(batch.min, e.min);
    batch.max = std::max(batch.max, e.max);
    batch.finite += e.finite;
  }
  nonfinite_count_ += count - batch.finite;
  if (batch.finite == 0) return;
  min_ = count_ == 0 ? batch.min : std::min(min_, batch.min);
  max_ = count_ == 0 ? batch.max : std::max(max_, batch.max);
  count_ += batch.finite;
  grow_to_cover(std::max(std::fabs(batch.min), std::fabs(batch.max)));

  job.inverse_width = std::ldexp(1.0, -width_exponent_);
  if (pieces == 1) {
    job.histograms = &histogram_;
    histogram_of(&job, 0, 0, 1);
    return;
  }
  histograms.assign(static_cast<size_t>(pieces) * histogram_.size(), 0);
  cpu::parallel_for(pieces, histogram_of, &job, pieces);
  for (int piece = 0; piece < pieces; ++piece) {
    const int64_t* part = histograms.data() + static_cast<size_t>(piece) * histogram_.size();
    for (size_t bin = 0; bin < histogram_.size(); ++bin) histogram_[bin] += part[bin];
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
