// Private helpers shared by the NN reference kernels (conv, pooling, gemm,
// normalization, softmax, reductions). Not part of the kernel interface.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "kernels/op_registry.h"

namespace kestrel {

// One register function per file; register_nn_ops calls them all.
void register_conv_ops(OpRegistry& registry);
void register_pool_ops(OpRegistry& registry);
void register_gemm_ops(OpRegistry& registry);
void register_normalization_ops(OpRegistry& registry);
void register_softmax_ops(OpRegistry& registry);
void register_reduce_ops(OpRegistry& registry);

namespace nn {

template <typename... Args>
Status node_error(const Node& node, const Args&... args) {
  return invalid_argument(node.label(), ": ", args...);
}

// Maps `axis` from [-rank, rank) to [0, rank).
Status normalize_axis(const Node& node, int64_t axis, int64_t rank, int64_t* result);

// True when output `i` of the node exists and is consumed by name (ONNX
// marks skipped optional outputs with an empty name, imported as kNoValue).
inline bool has_output(const Node& node, size_t i) { return i < node.outputs.size() && node.outputs[i] != kNoValue; }

// Geometry of a sliding window over the spatial dims of an [N, C, D1, ...]
// tensor. Unknown input dims (-1) give unknown output dims.
struct Window {
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
  std::vector<int64_t> in;
  std::vector<int64_t> out;
};

struct WindowOptions {
  bool allow_dilations = true;  // AveragePool has none before opset 19
  bool allow_ceil_mode = false;
};

// Reads strides, dilations, pads, auto_pad (and ceil_mode when allowed) from
// the node and computes pads and output dims for the given kernel.
Status compute_window(const Node& node, const std::vector<int64_t>& input_spatial, const std::vector<int64_t>& kernel,
                      const WindowOptions& options, Window* window);

// The same window with leading unit dims added so it has exactly 3 spatial
// dims: 1-D and 2-D kernels then share the 3-D loop nest.
Window window_as_3d(const Window& window);

// Arithmetic that wraps for integers: unsigned math avoids signed-overflow
// UB, and at least `unsigned` width avoids promotion of narrow types to int.
template <typename T, typename = void>
struct WrapTypeOf {
  using type = T;
};
template <typename T>
struct WrapTypeOf<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  using type = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
};
template <typename T>
using WrapType = typename WrapTypeOf<T>::type;

// c[0..n) += a * b[0..n). Written in fixed chunks of 8 so GCC's -O2
// (very-cheap cost model) vectorizes it without a runtime trip-count check.
template <typename T>
inline void axpy(int64_t n, T a, const T* __restrict b, T* __restrict c) {
  using W = WrapType<T>;
  const W wa = static_cast<W>(a);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    for (int u = 0; u < 8; ++u) c[j + u] = static_cast<T>(static_cast<W>(c[j + u]) + wa * static_cast<W>(b[j + u]));
  }
  for (; j < n; ++j) c[j] = static_cast<T>(static_cast<W>(c[j]) + wa * static_cast<W>(b[j]));
}

// C[m x n] += A[m x k] * B[k x n]; row-major with leading dims lda, ldb, ldc.
// Plain i-k-j loops, blocked over n and k so the B panel stays in L2 and
// the C row segment in L1.
template <typename T>
void gemm_accumulate(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                     int64_t ldc) {
  constexpr int64_t kBlockN = 512;
  constexpr int64_t kBlockK = 128;
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    const int64_t nb = std::min(kBlockN, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      const int64_t p1 = std::min(k, p0 + kBlockK);
      for (int64_t i = 0; i < m; ++i) {
        T* c_row = c + i * ldc + j0;
        const T* a_row = a + i * lda;
        for (int64_t p = p0; p < p1; ++p) axpy(nb, a_row[p], b + p * ldb + j0, c_row);
      }
    }
  }
}

// dst[cols x rows] = transpose of src[rows x cols].
template <typename T>
void transpose_2d(int64_t rows, int64_t cols, const T* src, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  }
}

// Product of dims [begin, end) of a shape.
inline int64_t dims_product(const Shape& shape, int64_t begin, int64_t end) {
  int64_t product = 1;
  for (int64_t i = begin; i < end; ++i) product *= shape[static_cast<size_t>(i)];
  return product;
}

}  // namespace nn
}  // namespace kestrel
