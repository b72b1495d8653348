#include "io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/checked_math.h"
#include "io/file_reader.h"

namespace kestrel {
namespace {

constexpr int kUnsignedByteType = 0x08;
constexpr int kMaxDims = 4;
constexpr int64_t kMagicBytes = 4;
constexpr int64_t kDimBytes = 4;
// Deflate cannot expand data more than 1032:1, so a gzip file of N bytes
// holds at most about 1032 N bytes: a header claiming more is truncated
// (or hostile) and is refused before anything is read.
constexpr int64_t kMaxDeflateRatio = 1032;
// Decompressed data is read in pieces of this size, so a header that lies
// costs at most one piece more than the data that is really there.
constexpr int64_t kGzChunkBytes = int64_t{16} << 20;

using GzFile = std::unique_ptr<gzFile_s, decltype(&gzclose)>;

bool is_gzip(const unsigned char* magic) { return magic[0] == 0x1f && magic[1] == 0x8b; }

struct IdxHeader {
  Shape shape;        // as the header claims
  int64_t bytes = 0;  // of all the items it claims
};

// Parses magic and dims from the first bytes of the (decompressed) stream.
// `read(dst, bytes, complete)` fails only when the stream is damaged, and
// sets `complete` to false when it ends first.
template <typename ReadFn>
StatusOr<IdxHeader> read_header(const std::string& path, ReadFn&& read) {
  unsigned char magic[kMagicBytes];
  bool complete = false;
  KESTREL_RETURN_IF_ERROR(read(magic, kMagicBytes, complete));
  if (!complete || magic[0] != 0 || magic[1] != 0) return data_loss(path, ": not an IDX file (bad magic)");
  if (magic[2] != kUnsignedByteType) return unimplemented(path, ": only unsigned-byte IDX files are supported");
  const int rank = magic[3];
  if (rank < 1 || rank > kMaxDims)
    return data_loss(path, ": IDX rank ", rank, " is out of range (1 to ", kMaxDims, ")");
  IdxHeader header;
  for (int i = 0; i < rank; ++i) {
    unsigned char dim[kDimBytes];
    KESTREL_RETURN_IF_ERROR(read(dim, kDimBytes, complete));
    if (!complete) return data_loss(path, ": truncated IDX header");
    header.shape.push_back((int64_t{dim[0]} << 24) | (int64_t{dim[1]} << 16) | (int64_t{dim[2]} << 8) | dim[3]);
  }
  const auto bytes = checked_element_count(header.shape);
  if (!bytes) return data_loss(path, ": IDX shape ", shape_string(header.shape), " is too large");
  header.bytes = *bytes;
  return header;
}

// The shape with at most `limit` items (all when limit < 0).
Shape limited_shape(const IdxHeader& header, int64_t limit) {
  Shape shape = header.shape;
  if (limit >= 0 && limit < shape[0]) shape[0] = limit;
  return shape;
}

StatusOr<Tensor> read_plain(FileReader& file, int64_t limit) {
  const auto read = [&](void* dst, int64_t bytes, bool& complete) {
    complete = bytes <= file.remaining();
    return complete ? file.read_exact(dst, bytes, "IDX header") : Status();
  };
  KESTREL_ASSIGN_OR_RETURN(const IdxHeader header, read_header(file.path(), read));
  if (header.bytes > file.remaining()) {
    return data_loss(file.path(), ": IDX data is truncated: shape ", shape_string(header.shape), " needs ",
                     header.bytes, " bytes, the file has ", file.remaining(), " after the header");
  }
  if (header.bytes < file.remaining()) {
    return data_loss(file.path(), ": IDX file has ", file.remaining() - header.bytes, " bytes after the ", header.bytes,
                     " its header's shape ", shape_string(header.shape), " needs");
  }
  const Shape shape = limited_shape(header, limit);
  Tensor tensor(DType::kUInt8, shape);
  KESTREL_RETURN_IF_ERROR(file.read_exact(tensor.raw_data(), static_cast<int64_t>(tensor.nbytes()), "IDX data"));
  return tensor;
}

// zlib's reason for a failed read, saying so when it is a checksum.
std::string gz_reason(gzFile file) {
  int code = 0;
  std::string reason = gzerror(file, &code);
  if (reason.find("incorrect data check") != std::string::npos) return reason + ": gzip CRC-32 checksum mismatch";
  if (reason.find("incorrect length check") != std::string::npos) return reason + ": gzip length checksum mismatch";
  return reason;
}

// Reads exactly `bytes` from a gzip stream in pieces; fewer means truncated.
StatusOr<std::vector<std::vector<uint8_t>>> read_gz_chunks(gzFile file, int64_t bytes, const std::string& path) {
  std::vector<std::vector<uint8_t>> chunks;
  for (int64_t done = 0; done < bytes;) {
    const int64_t want = std::min(kGzChunkBytes, bytes - done);
    std::vector<uint8_t>& chunk = chunks.emplace_back(static_cast<size_t>(want));
    const int got = gzread(file, chunk.data(), static_cast<unsigned>(want));
    if (got < 0) {
      return data_loss(path, ": IDX data is truncated or damaged gzip data after ", done, " of ", bytes, " bytes (",
                       gz_reason(file), ")");
    }
    done += got;
    if (got < want) {
      return data_loss(path, ": IDX data is truncated: needs ", bytes, " bytes, the gzip stream ends after ", done);
    }
  }
  return chunks;
}

// After all the items: the stream must end here, and reading to its end
// makes zlib check the gzip CRC-32 and length.
Status check_gz_end(gzFile file, const IdxHeader& header, const std::string& path) {
  unsigned char extra = 0;
  const int got = gzread(file, &extra, 1);
  if (got < 0) return data_loss(path, ": damaged gzip data at its end (", gz_reason(file), ")");
  if (got > 0) {
    return data_loss(path, ": IDX file has more data after the ", header.bytes, " bytes its header's shape ",
                     shape_string(header.shape), " needs");
  }
  return {};
}

StatusOr<Tensor> read_gz(FileReader& file, int64_t limit) {
  const int64_t compressed = file.size();
  const std::string path = file.path();
  GzFile gz(gzdopen(file.release(), "rb"), gzclose);
  if (!gz) return not_found(path, ": cannot open gzip stream");
  const auto read = [&](void* dst, int64_t bytes, bool& complete) {
    const int got = gzread(gz.get(), dst, static_cast<unsigned>(bytes));
    complete = got == static_cast<int>(bytes);
    if (got < 0) return data_loss(path, ": damaged gzip data in the IDX header (", gz_reason(gz.get()), ")");
    return Status();
  };
  KESTREL_ASSIGN_OR_RETURN(const IdxHeader header, read_header(path, read));
  const auto most = checked_mul(compressed, kMaxDeflateRatio);
  if (most && header.bytes > *most) {
    return data_loss(path, ": IDX data is truncated: shape ", shape_string(header.shape), " needs ", header.bytes,
                     " bytes, more than a gzip file of ", compressed, " bytes can hold");
  }
  if (header.bytes > kDefaultMaxFileBytes) {
    return data_loss(path, ": IDX shape ", shape_string(header.shape), " needs ", header.bytes,
                     " bytes, larger than the limit of ", kDefaultMaxFileBytes);
  }
  const Shape shape = limited_shape(header, limit);
  const int64_t bytes = shape_size(shape);  // at most header.bytes, checked above
  KESTREL_ASSIGN_OR_RETURN(auto chunks, read_gz_chunks(gz.get(), bytes, path));
  if (bytes == header.bytes) KESTREL_RETURN_IF_ERROR(check_gz_end(gz.get(), header, path));
  Tensor tensor(DType::kUInt8, shape);
  auto* dst = tensor.data<uint8_t>();
  for (const auto& chunk : chunks) dst = std::copy(chunk.begin(), chunk.end(), dst);
  return tensor;
}

}  // namespace

StatusOr<Tensor> read_idx(const std::string& path, int64_t limit) {
  KESTREL_ASSIGN_OR_RETURN(FileReader file, FileReader::open(path));
  unsigned char magic[2] = {};
  if (file.size() < kMagicBytes) return data_loss(path, ": not an IDX file (", file.size(), " bytes)");
  KESTREL_RETURN_IF_ERROR(file.read_exact(magic, 2, "IDX header"));
  KESTREL_RETURN_IF_ERROR(file.seek(0));
  return is_gzip(magic) ? read_gz(file, limit) : read_plain(file, limit);
}

}  // namespace kestrel
