// Tensor: a dense, row-major, 64-byte-aligned n-d array. Copies are shallow
// (they share the buffer); clone() makes a deep copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/dtype.h"

namespace kestrel {

using Shape = std::vector<int64_t>;

// Product of the dims (1 for a scalar).
int64_t shape_size(const Shape& shape);
// "[1,3,224,224]".
std::string shape_string(const Shape& shape);

inline constexpr size_t kTensorAlignment = 64;

class Tensor {
 public:
  Tensor() = default;
  // Allocates a zero-filled tensor.
  Tensor(DType dtype, Shape shape);

  // Wraps memory owned by `owner` (e.g. an mmap'ed file); no copy.
  static Tensor wrap(DType dtype, Shape shape, std::shared_ptr<const void> owner, const void* data);

  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  template <typename T>
  static Tensor scalar(T value) {
    return from_vector<T>({}, std::vector<T>{value});
  }

  bool empty() const { return dtype_ == DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t dim(int64_t axis) const { return shape_[static_cast<size_t>(axis)]; }
  int64_t size() const { return shape_size(shape_); }
  size_t nbytes() const { return static_cast<size_t>(size()) * dtype_size(dtype_); }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  // Same buffer, new shape of equal size.
  Tensor reshaped(Shape shape) const;
  // Same buffer, its leading bytes under a shape no larger (a smaller batch).
  StatusOr<Tensor> prefix(Shape shape) const;
  Tensor clone() const;

  // Reads element i of any integer or float tensor as int64 / double.
  int64_t int_at(int64_t i) const;
  double float_at(int64_t i) const;
  // Copies an integer tensor (int32/int64/...) into int64s.
  std::vector<int64_t> to_int64s() const;

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<const void> owner_;
  void* data_ = nullptr;
};

template <typename T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor tensor(DTypeOf<T>::value, std::move(shape));
  T* dst = tensor.data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < tensor.size(); ++i) dst[i] = values[i];
  return tensor;
}

}  // namespace kestrel
