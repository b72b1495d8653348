// NumPy .npy files (format versions 1.0 to 3.0, little-endian, C order).
#pragma once

#include <string>

#include "base/status.h"
#include "ir/tensor.h"

namespace kestrel {

StatusOr<Tensor> read_npy(const std::string& path);
Status write_npy(const std::string& path, const Tensor& tensor);

}  // namespace kestrel
