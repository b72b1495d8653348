#include "quant/calibration_cache.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "base/safe_write.h"
#include "format/checksum.h"
#include "io/dataset.h"
#include "io/file_reader.h"

namespace kestrel {
namespace {

constexpr char kMagic[8] = {'K', 'C', 'A', 'L', 'I', 'B', '0', '1'};
constexpr int64_t kChunkBytes = int64_t{16} << 20;
// Far above any real model's calibrated tensors, histogram bins or batch;
// bounds what a damaged count can make the reader allocate.
constexpr uint64_t kMaxTensors = 1 << 20, kMaxBins = 1 << 20, kMaxNameBytes = 1 << 16, kMaxRank = 8;
constexpr int64_t kMaxBatchFloats = int64_t{1} << 30;

// Order-dependent combination of 64-bit words.
uint64_t mix(uint64_t state, uint64_t word) {
  const uint64_t both[2] = {state, word};
  return model_checksum(both, sizeof(both));
}

uint64_t hash_text(uint64_t state, const std::string& text) {
  return mix(mix(state, text.size()), model_checksum(text.data(), text.size()));
}

StatusOr<uint64_t> hash_file(uint64_t state, const std::string& path) {
  KESTREL_ASSIGN_OR_RETURN(FileReader reader, FileReader::open(path, std::numeric_limits<int64_t>::max()));
  state = mix(state, static_cast<uint64_t>(reader.size()));
  std::vector<uint8_t> chunk(static_cast<size_t>(std::min(reader.size(), kChunkBytes)));
  while (reader.remaining() > 0) {
    const int64_t bytes = std::min(reader.remaining(), kChunkBytes);
    KESTREL_RETURN_IF_ERROR(reader.read_exact(chunk.data(), bytes, "bytes"));
    state = mix(state, model_checksum(chunk.data(), static_cast<size_t>(bytes)));
  }
  return state;
}

// An image folder: the first `count` images' paths (relative to the folder)
// and bytes. An IDX or .npy file: its bytes.
StatusOr<uint64_t> hash_data(const CalibrationData& data) {
  uint64_t state =
      mix(mix(0x6b657374726c6461ULL, static_cast<uint64_t>(data.count)), static_cast<uint64_t>(data.offset));
  std::error_code error;
  if (!std::filesystem::is_directory(data.path, error)) return hash_file(state, data.path);
  KESTREL_ASSIGN_OR_RETURN(auto dataset,
                           open_dataset_slice(data.path, "", data.offset, data.count, "--calibration-count"));
  for (int64_t i = 0; i < dataset->size(); ++i) {
    const std::string file = dataset->item_name(i);
    state = hash_text(state, std::filesystem::path(file).lexically_relative(data.path).string());
    KESTREL_ASSIGN_OR_RETURN(state, hash_file(state, file));
  }
  return state;
}

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, std::string path) : data_(data), size_(size), path_(std::move(path)) {}
  template <typename T>
  Status get(T& value, const char* what) {
    return get_bytes(&value, sizeof(T), what);
  }
  Status get_bytes(void* dst, size_t size, const char* what) {
    if (size > size_ - position_) return corrupt(str_cat("truncated at the ", what));
    std::memcpy(dst, data_ + position_, size);
    position_ += size;
    return {};
  }
  bool at_end() const { return position_ == size_; }
  Status corrupt(const std::string& why) const {
    return invalid_argument(path_, ": not a sound calibration cache (", why,
                            "); delete it, or pass --no-calibration-cache");
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
  std::string path_;
};

Status read_stats(Reader& in, std::string& name, TensorStats& stats) {
  uint64_t name_bytes = 0;
  KESTREL_RETURN_IF_ERROR(in.get(name_bytes, "tensor name"));
  if (name_bytes > kMaxNameBytes) return in.corrupt(str_cat("a tensor name of ", name_bytes, " bytes"));
  name.resize(name_bytes);
  KESTREL_RETURN_IF_ERROR(in.get_bytes(name.data(), name_bytes, "tensor name"));
  int64_t count = 0, nonfinite = 0;
  float min = 0, max = 0;
  int32_t exponent = 0;
  uint64_t bins = 0;
  KESTREL_RETURN_IF_ERROR(in.get(count, "statistics"));
  KESTREL_RETURN_IF_ERROR(in.get(nonfinite, "statistics"));
  KESTREL_RETURN_IF_ERROR(in.get(min, "statistics"));
  KESTREL_RETURN_IF_ERROR(in.get(max, "statistics"));
  KESTREL_RETURN_IF_ERROR(in.get(exponent, "statistics"));
  KESTREL_RETURN_IF_ERROR(in.get(bins, "statistics"));
  if (bins == 0 || bins > kMaxBins) return in.corrupt(str_cat("tensor '", name, "' has ", bins, " histogram bins"));
  std::vector<int64_t> histogram(bins);
  KESTREL_RETURN_IF_ERROR(in.get_bytes(histogram.data(), bins * sizeof(int64_t), "histogram"));
  auto restored = TensorStats::restore(std::move(histogram), exponent, count, nonfinite, min, max);
  if (!restored.ok()) return in.corrupt(str_cat("tensor '", name, "': ", restored.status().message()));
  stats = std::move(restored).value();
  return {};
}

Status read_batch(Reader& in, Tensor& batch) {
  uint64_t rank = 0;
  KESTREL_RETURN_IF_ERROR(in.get(rank, "first batch"));
  if (rank == 0) return {};  // none saved
  if (rank > kMaxRank) return in.corrupt(str_cat("a first batch of rank ", rank));
  Shape shape(rank);
  int64_t floats = 1;
  for (int64_t& dim : shape) {
    KESTREL_RETURN_IF_ERROR(in.get(dim, "first batch"));
    if (dim <= 0 || dim > kMaxBatchFloats || floats > kMaxBatchFloats / dim)
      return in.corrupt("a first batch of impossible shape");
    floats *= dim;
  }
  batch = Tensor(DType::kFloat32, shape);
  return in.get_bytes(batch.raw_data(), batch.nbytes(), "first batch");
}

}  // namespace

StatusOr<CalibrationFingerprint> fingerprint_calibration(const std::string& model_path, const std::string& input_shapes,
                                                         const CalibrationData& data,
                                                         const std::vector<std::string>& tensors) {
  CalibrationFingerprint fingerprint;
  KESTREL_ASSIGN_OR_RETURN(fingerprint.model, hash_file(0x6b657374726c6d6fULL, model_path));
  KESTREL_ASSIGN_OR_RETURN(fingerprint.data, hash_data(data));
  if (!data.preprocess.empty()) {
    KESTREL_ASSIGN_OR_RETURN(fingerprint.preprocess, hash_file(0x6b657374726c7070ULL, data.preprocess));
  }
  // The histogram resolution too: a build that bins differently recalibrates.
  uint64_t setup = mix(mix(0x6b657374726c7375ULL, static_cast<uint64_t>(data.batch)), TensorStats::kDefaultNumBins);
  setup = hash_text(setup, input_shapes);
  for (const std::string& name : tensors) setup = hash_text(setup, name);
  fingerprint.setup = setup;
  return fingerprint;
}

Status write_calibration_cache(const std::string& path, const CalibrationFingerprint& fingerprint,
                               const CalibrationResult& result) {
  Writer out;
  out.put_bytes(kMagic, sizeof(kMagic));
  out.put(fingerprint.model);
  out.put(fingerprint.data);
  out.put(fingerprint.preprocess);
  out.put(fingerprint.setup);
  out.put(static_cast<uint64_t>(result.stats.size()));
  for (const auto& [name, stats] : result.stats) {
    out.put(static_cast<uint64_t>(name.size()));
    out.put_bytes(name.data(), name.size());
    out.put(stats.count());
    out.put(stats.nonfinite_count());
    out.put(stats.min());
    out.put(stats.max());
    out.put(static_cast<int32_t>(stats.width_exponent()));
    out.put(static_cast<uint64_t>(stats.histogram().size()));
    out.put_bytes(stats.histogram().data(), stats.histogram().size() * sizeof(int64_t));
  }
  const Tensor& batch = result.first_batch;
  out.put(static_cast<uint64_t>(batch.empty() ? 0 : batch.rank()));
  if (!batch.empty()) {
    for (int64_t dim : batch.shape()) out.put(dim);
    out.put_bytes(batch.raw_data(), batch.nbytes());
  }
  out.put(model_checksum(out.bytes().data(), out.bytes().size()));
  return write_file_atomically(path, out.bytes().data(), out.bytes().size(), "calibration cache");
}

StatusOr<CalibrationCacheLookup> read_calibration_cache(const std::string& path,
                                                        const CalibrationFingerprint& fingerprint) {
  CalibrationCacheLookup lookup;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return lookup;
  KESTREL_ASSIGN_OR_RETURN(FileReader file, FileReader::open(path, std::numeric_limits<int64_t>::max()));
  std::vector<uint8_t> bytes(static_cast<size_t>(file.size()));
  KESTREL_RETURN_IF_ERROR(file.read_exact(bytes.data(), file.size(), "calibration cache"));
  Reader in(bytes.data(), bytes.size(), path);
  char magic[sizeof(kMagic)] = {};
  KESTREL_RETURN_IF_ERROR(in.get_bytes(magic, sizeof(magic), "header"));
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) return in.corrupt("no KCALIB01 header");
  if (bytes.size() < sizeof(kMagic) + sizeof(uint64_t)) return in.corrupt("truncated");
  uint64_t stored_checksum = 0;
  std::memcpy(&stored_checksum, bytes.data() + bytes.size() - sizeof(uint64_t), sizeof(uint64_t));
  if (model_checksum(bytes.data(), bytes.size() - sizeof(uint64_t)) != stored_checksum)
    return in.corrupt("checksum mismatch: the file is damaged");
  Reader body(bytes.data() + sizeof(kMagic), bytes.size() - sizeof(kMagic) - sizeof(uint64_t), path);
  CalibrationFingerprint stored;
  KESTREL_RETURN_IF_ERROR(body.get(stored.model, "fingerprint"));
  KESTREL_RETURN_IF_ERROR(body.get(stored.data, "fingerprint"));
  KESTREL_RETURN_IF_ERROR(body.get(stored.preprocess, "fingerprint"));
  KESTREL_RETURN_IF_ERROR(body.get(stored.setup, "fingerprint"));
  std::vector<std::string> differs;
  if (stored.model != fingerprint.model) differs.emplace_back("the model");
  if (stored.data != fingerprint.data) differs.emplace_back("the calibration images");
  if (stored.preprocess != fingerprint.preprocess) differs.emplace_back("the preprocessing");
  if (stored.setup != fingerprint.setup) differs.emplace_back("the input shapes, batch or calibrated tensors");
  uint64_t tensors = 0;
  KESTREL_RETURN_IF_ERROR(body.get(tensors, "tensor count"));
  if (tensors > kMaxTensors) return body.corrupt(str_cat(tensors, " tensors"));
  CalibrationResult result;
  for (uint64_t i = 0; i < tensors; ++i) {
    std::string name;
    TensorStats stats;
    KESTREL_RETURN_IF_ERROR(read_stats(body, name, stats));
    if (!result.stats.emplace(name, std::move(stats)).second) return body.corrupt(str_cat("tensor '", name, "' twice"));
  }
  KESTREL_RETURN_IF_ERROR(read_batch(body, result.first_batch));
  if (!body.at_end()) return body.corrupt("bytes after the first batch");
  if (!differs.empty()) {
    for (size_t i = 0; i < differs.size(); ++i) {
      lookup.stale += (i == 0 ? "" : i + 1 == differs.size() ? " and " : ", ") + differs[i];
    }
    return lookup;
  }
  lookup.result = std::move(result);
  return lookup;
}

}  // namespace kestrel
