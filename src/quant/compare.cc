#include "quant/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "quant/quantize.h"

namespace kestrel {
namespace {

constexpr double kDecibelsPerDecade = 10.0;

double raw_at(const Tensor& tensor, int64_t i) {
  switch (tensor.dtype()) {
    case DType::kUInt8: return tensor.data<uint8_t>()[i];
    case DType::kInt8: return tensor.data<int8_t>()[i];
    case DType::kFloat32: return tensor.data<float>()[i];
    default: return 0;
  }
}

bool is_byte(DType dtype) { return dtype == DType::kInt8 || dtype == DType::kUInt8; }

}  // namespace

std::vector<float> plain_values(const Value& value, const Tensor& tensor) {
  std::vector<float> out(static_cast<size_t>(tensor.size()));
  float scale = 1.0f, zero = 0.0f;
  if (is_byte(tensor.dtype()) && value.quant && !value.quant->scales.empty()) {
    scale = value.quant->scales[0];
    zero = value.quant->zero_points.empty() ? 0.0f : static_cast<float>(value.quant->zero_points[0]);
  }
  const bool nhwc = value.layout == Layout::kNhwc && value.shape.size() == 4;
  const int64_t c = nhwc ? value.shape[1] : 1;
  const int64_t pixels = nhwc ? value.shape[2] * value.shape[3] : 1;
  for (int64_t i = 0; i < tensor.size(); ++i) {
    // Element i of memory; in NHWC it is (b, p, k), which NCHW keeps at (b, k, p).
    int64_t plain = i;
    if (nhwc) {
      const int64_t k = i % c, p = (i / c) % pixels, b = i / (c * pixels);
      plain = (b * c + k) * pixels + p;
    }
    const double raw = raw_at(tensor, i);
    out[static_cast<size_t>(plain)] = static_cast<float>(is_byte(tensor.dtype()) ? scale * (raw - zero) : raw);
  }
  return out;
}

void TensorComparer::add_reference(const Value& value, const Tensor& tensor) {
  if (tensor.dtype() != DType::kFloat32 && !is_byte(tensor.dtype())) return;
  reference_[value.name] = plain_values(value, tensor);
}

void TensorComparer::add_candidate(const Value& value, const std::string& node, const Tensor& tensor) {
  auto reference = reference_.find(value.name);
  if (reference == reference_.end() || static_cast<int64_t>(reference->second.size()) != tensor.size()) return;
  if (tensor.dtype() != DType::kFloat32 && !is_byte(tensor.dtype())) return;
  const std::vector<float> candidate = plain_values(value, tensor);
  Sums& sums = sums_[value.name];
  sums.node = node;
  sums.dtype = dtype_name(tensor.dtype());
  sums.elements += tensor.size();
  for (size_t i = 0; i < candidate.size(); ++i) {
    const double x = reference->second[i], y = candidate[i];
    sums.signal += x * x, sums.noise += (x - y) * (x - y), sums.dot += x * y, sums.power += y * y;
    sums.max_abs = std::max(sums.max_abs, std::fabs(x - y));
  }
  if (is_byte(tensor.dtype()) && value.quant && !value.quant->scales.empty()) {
    // This tensor's own rounding and clipping: the reference's values put
    // on the candidate's grid and back.
    const float scale = value.quant->scales[0];
    const auto zero = static_cast<int32_t>(value.quant->zero_points.empty() ? 0 : value.quant->zero_points[0]);
    for (const float x : reference->second) {
      const double back = dequantize_value(quantize_value(x, scale, zero, tensor.dtype()), scale, zero);
      sums.own_noise += (x - back) * (x - back);
    }
    sums.has_own = true;
  }
  if (is_byte(tensor.dtype())) {
    sums.quantized = true;
    // The ends of the grid a value was clipped to: 255 for uint8 (0 is the
    // exact zero), -128/127 for int8 (-127 too: symmetric weights' end).
    for (int64_t i = 0; i < tensor.size(); ++i) {
      const double raw = raw_at(tensor, i);
      sums.at_ends += tensor.dtype() == DType::kUInt8 ? raw >= 255 : (raw >= 127 || raw <= -127);
    }
  }
}

std::vector<TensorComparison> TensorComparer::results() const {
  std::vector<TensorComparison> rows;
  for (const auto& [name, s] : sums_) {
    TensorComparison row{.tensor = name, .node = s.node, .dtype = s.dtype, .elements = s.elements};
    row.sqnr_db =
        s.noise > 0 ? kDecibelsPerDecade * std::log10(s.signal / s.noise) : std::numeric_limits<double>::infinity();
    row.cosine = s.signal > 0 && s.power > 0 ? s.dot / std::sqrt(s.signal * s.power) : 1.0;
    row.max_abs_error = s.max_abs;
    row.own_sqnr_db = !s.has_own        ? std::numeric_limits<double>::infinity()
                      : s.own_noise > 0 ? kDecibelsPerDecade * std::log10(s.signal / s.own_noise)
                                        : std::numeric_limits<double>::infinity();
    row.saturated =
        s.quantized ? static_cast<double>(s.at_ends) / static_cast<double>(std::max<int64_t>(1, s.elements)) : -1.0;
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const TensorComparison& a, const TensorComparison& b) {
    return a.own_sqnr_db != b.own_sqnr_db ? a.own_sqnr_db < b.own_sqnr_db : a.sqnr_db < b.sqnr_db;
  });
  return rows;
}

}  // namespace kestrel
