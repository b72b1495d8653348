// Tensor-by-tensor comparison of two networks run on the same inputs
// (`kestrel compare`): every value both graphs name alike (whatever their
// layouts and element types), with SQNR, cosine and the largest absolute
// error accumulated over all runs, and for int8/uint8 tensors of the
// candidate the share of values at the ends of their grid (saturation).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kestrel {

// The values `tensor` holds for `value`, in plain (NCHW) order, as float32:
// int8/uint8 dequantized with the value's scale and zero point, NHWC
// activations put back in NCHW order.
std::vector<float> plain_values(const Value& value, const Tensor& tensor);

struct TensorComparison {
  std::string tensor;
  std::string node;   // the candidate's node producing it (the name a quant config uses)
  std::string dtype;  // in the candidate
  int64_t elements = 0;
  // The candidate's own rounding and clipping: the reference's values put
  // on the candidate's int8 grid and back (+inf for float tensors). The
  // tensor to blame is the one lowest here.
  double own_sqnr_db = 0;
  // Accumulated through the network: 10 log10(|ref|^2 / |ref - cand|^2), +inf when equal.
  double sqnr_db = 0;
  double cosine = 1;
  double max_abs_error = 0;
  double saturated = -1;  // int8/uint8 candidate: share at the grid's ends; -1 for float tensors
};

class TensorComparer {
 public:
  // One run: record the reference's values, then compare the candidate's
  // with them (names the reference lacks, or of another element count, are
  // skipped), then end_run().
  void add_reference(const Value& value, const Tensor& tensor);
  void add_candidate(const Value& value, const std::string& node, const Tensor& tensor);
  void end_run() { reference_.clear(); }

  // Worst own SQNR first (then worst network SQNR: float tensors by it).
  std::vector<TensorComparison> results() const;

 private:
  struct Sums {
    std::string node, dtype;
    int64_t elements = 0, at_ends = 0;
    bool quantized = false, has_own = false;
    double signal = 0, noise = 0, dot = 0, power = 0, max_abs = 0, own_noise = 0;
  };
  std::map<std::string, std::vector<float>> reference_;
  std::map<std::string, Sums> sums_;
};

}  // namespace kestrel
