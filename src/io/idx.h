// IDX files (the MNIST family: images u8 [N,H,W], labels u8 [N]), gzipped or not.
#pragma once

#include <string>

#include "base/status.h"
#include "ir/tensor.h"

namespace kestrel {

// Reads up to `limit` items (all when limit < 0) as a uint8 tensor [N, d1, ...].
StatusOr<Tensor> read_idx(const std::string& path, int64_t limit = -1);

}  // namespace kestrel
