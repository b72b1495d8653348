#include "io/idx.h"

#include <zlib.h>

#include <memory>

namespace kestrel {
namespace {

constexpr int kUnsignedByteType = 0x08;
constexpr int kMaxDims = 4;

using GzFile = std::unique_ptr<gzFile_s, decltype(&gzclose)>;

bool read_exact(gzFile file, void* dst, size_t bytes) {
  return gzread(file, dst, static_cast<unsigned>(bytes)) == static_cast<int>(bytes);
}

}  // namespace

StatusOr<Tensor> read_idx(const std::string& path, int64_t limit) {
  GzFile file(gzopen(path.c_str(), "rb"), gzclose);  // reads plain files too
  if (!file) return not_found(path, ": cannot open file");
  unsigned char magic[4];
  if (!read_exact(file.get(), magic, 4) || magic[0] != 0 || magic[1] != 0) {
    return data_loss(path, ": not an IDX file (bad magic)");
  }
  if (magic[2] != kUnsignedByteType) return unimplemented(path, ": only unsigned-byte IDX files are supported");
  const int rank = magic[3];
  if (rank < 1 || rank > kMaxDims) return data_loss(path, ": IDX rank ", rank, " is out of range");
  Shape shape;
  for (int i = 0; i < rank; ++i) {
    unsigned char dim[4];
    if (!read_exact(file.get(), dim, 4)) return data_loss(path, ": truncated IDX header");
    shape.push_back((int64_t{dim[0]} << 24) | (dim[1] << 16) | (dim[2] << 8) | dim[3]);
  }
  if (limit >= 0 && limit < shape[0]) shape[0] = limit;
  Tensor tensor(DType::kUInt8, shape);
  if (!read_exact(file.get(), tensor.raw_data(), tensor.nbytes())) {
    return data_loss(path, ": IDX data is truncated (expected ", shape_string(shape), " bytes)");
  }
  return tensor;
}

}  // namespace kestrel
