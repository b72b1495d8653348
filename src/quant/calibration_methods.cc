#include "quant/calibration_methods.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace kestrel {
namespace {

constexpr double kPercentScale = 100.0;
// Stands in for Q's probability where the candidate holds no mass but the
// reference P does (the clipped outliers in P's last bin): log(p / 0) would make
// such candidates infinitely bad; this makes them merely very bad, so they can
// still win when every candidate has the problem.
constexpr double kEmptyBinProbability = 1e-9;

constexpr std::array<std::pair<std::string_view, CalibrationMethod>, 4> kMethodNames = {{
    {"minmax", CalibrationMethod::kMinMax},
    {"percentile", CalibrationMethod::kPercentile},
    {"entropy", CalibrationMethod::kEntropy},
    {"mse", CalibrationMethod::kMse},
}};

std::string tensor_label(const CalibrationOptions& options) {
  return options.tensor_name.empty() ? std::string("tensor") : str_cat("tensor '", options.tensor_name, "'");
}

// Scratch buffers reused across the KL candidates.
struct KlScratch {
  std::vector<double> p;
  std::vector<double> q;
};

// KL(P || Q) for keeping the first `kept` bins: P is the histogram clipped to
// them with the outliers folded into the last kept bin; Q quantizes the
// unclipped part to `num_levels` levels and spreads each level's mass evenly
// over the bins where P is non-zero (empty bins stay empty, as in P).
double clipped_kl_divergence(const std::vector<int64_t>& histogram, int kept, int num_levels, int64_t outliers,
                             KlScratch& scratch) {
  auto& p = scratch.p;
  auto& q = scratch.q;
  p.assign(histogram.begin(), histogram.begin() + kept);
  p[static_cast<size_t>(kept - 1)] += static_cast<double>(outliers);
  q.assign(static_cast<size_t>(kept), 0.0);
  double p_total = 0.0;
  double q_total = 0.0;
  for (int level = 0; level < num_levels; ++level) {
    // Proportional edges spread the remainder of kept / num_levels over levels.
    const int begin = static_cast<int>(static_cast<int64_t>(level) * kept / num_levels);
    const int end = static_cast<int>(static_cast<int64_t>(level + 1) * kept / num_levels);
    double level_mass = 0.0;
    int nonzero = 0;
    for (int j = begin; j < end; ++j) {
      level_mass += static_cast<double>(histogram[static_cast<size_t>(j)]);
      nonzero += p[static_cast<size_t>(j)] > 0.0 ? 1 : 0;
    }
    for (int j = begin; j < end && nonzero > 0; ++j) {
      if (p[static_cast<size_t>(j)] > 0.0) q[static_cast<size_t>(j)] = level_mass / nonzero;
    }
    q_total += level_mass;
  }
  for (double value : p) p_total += value;
  if (q_total <= 0.0) return std::numeric_limits<double>::infinity();
  double divergence = 0.0;
  for (size_t j = 0; j < p.size(); ++j) {
    if (p[j] <= 0.0) continue;
    const double p_prob = p[j] / p_total;
    const double q_prob = q[j] > 0.0 ? q[j] / q_total : kEmptyBinProbability;
    divergence += p_prob * std::log(p_prob / q_prob);
  }
  return divergence;
}

// Antiderivative of the squared rounding error (x - step * round(x / step))^2:
// one full step contributes step^3 / 12, and within a step the error is linear.
double rounding_error_integral(double x, double step) {
  const double shifted = x / step + 0.5;
  const double whole_steps = std::floor(shifted);
  const double centered = shifted - whole_steps - 0.5;
  return step * step * step * (whole_steps / 12.0 + (centered * centered * centered + 0.125) / 3.0);
}

// Expected squared error of the values in [lo, hi), assumed uniform within the
// bin, for threshold T and step T / max_code: rounding below T, clipping above.
double bin_squared_error(double lo, double hi, double threshold, double step) {
  const double split = std::clamp(threshold, lo, hi);
  const double rounding = rounding_error_integral(split, step) - rounding_error_integral(lo, step);
  const double clip_lo = split - threshold;
  const double clip_hi = hi - threshold;
  const double clipping = (clip_hi * clip_hi * clip_hi - clip_lo * clip_lo * clip_lo) / 3.0;
  return (rounding + clipping) / (hi - lo);
}

// Zeroes the bins that hold more than kSpikeShare of `total` values and
// more than kSpikeFactor times the median of their neighbourhood.
void remove_spikes(std::vector<int64_t>& histogram, int64_t total) {
  const int bins = static_cast<int>(histogram.size());
  const std::vector<int64_t> original = histogram;
  std::vector<int64_t> window;
  for (int bin = 0; bin < bins; ++bin) {
    const double count = static_cast<double>(original[static_cast<size_t>(bin)]);
    if (count <= kSpikeShare * static_cast<double>(total)) continue;
    window.clear();
    for (int j = bin - kSpikeRadius; j <= bin + kSpikeRadius; ++j) {
      window.push_back(original[static_cast<size_t>(std::clamp(j, 0, bins - 1))]);
    }
    std::nth_element(window.begin(), window.begin() + kSpikeRadius, window.end());
    const double median = std::max<double>(1.0, static_cast<double>(window[static_cast<size_t>(kSpikeRadius)]));
    if (count > kSpikeFactor * median) histogram[static_cast<size_t>(bin)] = 0;
  }
}

}  // namespace

StatusOr<CalibrationMethod> parse_calibration_method(std::string_view name) {
  std::string valid;
  for (const auto& [method_name, method] : kMethodNames) {
    if (method_name == name) return method;
    valid += str_cat(valid.empty() ? "" : ", ", method_name);
  }
  return invalid_argument("unknown calibration method '", name, "' (valid: ", valid, ")");
}

std::string_view calibration_method_name(CalibrationMethod method) {
  for (const auto& [method_name, candidate] : kMethodNames) {
    if (candidate == method) return method_name;
  }
  return "unknown";
}

bool uses_unsigned_range(const TensorStats& stats, const CalibrationOptions& options) {
  return options.allow_unsigned && !stats.empty() && stats.min() >= 0.0f;
}

float minmax_threshold(const TensorStats& stats) { return stats.max_abs(); }

float percentile_threshold(const TensorStats& stats, double percentile) {
  const double target = percentile / kPercentScale * static_cast<double>(stats.count());
  const auto& histogram = stats.histogram();
  double cumulative = 0.0;
  for (size_t bin = 0; bin < histogram.size(); ++bin) {
    const double in_bin = static_cast<double>(histogram[bin]);
    if (in_bin > 0.0 && cumulative + in_bin >= target) {
      // Interpolate linearly inside the bin: its values are assumed uniform.
      const double fraction = std::clamp((target - cumulative) / in_bin, 0.0, 1.0);
      const double threshold = (static_cast<double>(bin) + fraction) * stats.bin_width();
      return std::min(static_cast<float>(threshold), stats.max_abs());
    }
    cumulative += in_bin;
  }
  return stats.max_abs();
}

float entropy_threshold(const TensorStats& stats, int num_levels) {
  const int used_bins = stats.last_nonzero_bin() + 1;
  if (used_bins <= num_levels) return stats.max_abs();  // too few bins to clip anything
  // Bin 0 holds the exact zeros (half of a ReLU output, typically), which
  // every grid represents exactly. Left in, Q would spread that spike over
  // the first level's bins and KL would refuse every threshold wider than
  // one bin per level.
  std::vector<int64_t> histogram = stats.histogram();
  histogram[0] = 0;
  std::vector<int64_t> beyond(static_cast<size_t>(used_bins) + 1, 0);  // beyond[k] = count in bins >= k
  for (int k = used_bins - 1; k >= 0; --k) {
    beyond[static_cast<size_t>(k)] = beyond[static_cast<size_t>(k) + 1] + histogram[static_cast<size_t>(k)];
  }
  // Spikes, like the zeros, leave P and Q; clipped, they still count among
  // the outliers (`beyond` has them). Left in, Q spreads a spike over its
  // level and KL favours the thresholds that put it alone in a bin: on
  // Fashion-MNIST the normalized black background is such a spike at
  // |x| = 2.12, and KL clipped the network input there (35 dB instead of 49).
  remove_spikes(histogram, beyond[0]);
  KlScratch scratch;
  int best_kept = used_bins;
  double best_divergence = std::numeric_limits<double>::infinity();
  for (int kept = num_levels; kept <= used_bins; ++kept) {
    const double divergence =
        clipped_kl_divergence(histogram, kept, num_levels, beyond[static_cast<size_t>(kept)], scratch);
    if (divergence < best_divergence) {
      best_divergence = divergence;
      best_kept = kept;
    }
  }
  return std::min(static_cast<float>(best_kept * static_cast<double>(stats.bin_width())), stats.max_abs());
}

float mse_threshold(const TensorStats& stats, int max_code) {
  const auto& histogram = stats.histogram();
  const double width = stats.bin_width();
  std::vector<int> occupied;  // only non-empty bins cost anything
  for (size_t bin = 0; bin < histogram.size(); ++bin) {
    if (histogram[bin] != 0) occupied.push_back(static_cast<int>(bin));
  }
  const int used_bins = stats.last_nonzero_bin() + 1;
  float best_threshold = stats.max_abs();
  double best_error = std::numeric_limits<double>::infinity();
  for (int kept = 1; kept <= used_bins; ++kept) {
    const double threshold = std::min(kept * width, static_cast<double>(stats.max_abs()));
    const double step = threshold / max_code;
    double error = 0.0;
    for (int bin : occupied) {
      const double mean_error = bin_squared_error(bin * width, (bin + 1) * width, threshold, step);
      error += mean_error * static_cast<double>(histogram[static_cast<size_t>(bin)]);
    }
    if (error < best_error) {
      best_error = error;
      best_threshold = static_cast<float>(threshold);
    }
  }
  return best_threshold;
}

StatusOr<float> choose_threshold(const TensorStats& stats, CalibrationMethod method,
                                 const CalibrationOptions& options) {
  if (stats.empty()) {
    return invalid_argument("no calibration data collected for ", tensor_label(options),
                            " (was it produced by any calibration batch?)");
  }
  if (method == CalibrationMethod::kPercentile && !(options.percentile > 0.0 && options.percentile <= kPercentScale)) {
    return invalid_argument("percentile ", options.percentile, " for ", tensor_label(options), " must be in (0, 100]");
  }
  if (stats.max_abs() == 0.0f) return 0.0f;  // all zeros: nothing to choose
  const bool is_unsigned = uses_unsigned_range(stats, options);
  switch (method) {
    case CalibrationMethod::kMinMax: return minmax_threshold(stats);
    case CalibrationMethod::kPercentile: return percentile_threshold(stats, options.percentile);
    case CalibrationMethod::kEntropy: return entropy_threshold(stats, kEntropyLevels);
    case CalibrationMethod::kMse: return mse_threshold(stats, is_unsigned ? kUnsignedMaxCode : kSignedMaxCode);
  }
  return internal_error("unhandled calibration method for ", tensor_label(options));
}

}  // namespace kestrel
