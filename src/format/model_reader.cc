// Loading a .kestrel file: mmap, then validation in order of cost — header,
// checksum, FlatBuffers verification, CPU features, meaning of every table —
// with no copy of the weights.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iomanip>

#include "base/cpu_features.h"
#include "base/regular_file.h"
#include "format/checksum.h"
#include "format/file_header.h"
#include "format/model_decoder.h"

namespace kestrel {
namespace {

static_assert(std::endian::native == std::endian::little, "the .kestrel weights section is little-endian");

std::string hex64(uint64_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << std::setw(16) << std::setfill('0') << value;
  return out.str();
}

flatbuffers::Verifier::Options verifier_options(size_t size) {
  flatbuffers::Verifier::Options options;
  // The table limit bounds verification time on files whose offsets make
  // tables share children; scale it with the size so big graphs still pass.
  options.max_tables = static_cast<flatbuffers::uoffset_t>(std::max<size_t>(options.max_tables, size / 8));
  return options;
}

// A 64-byte-aligned private copy, for buffers whose address is not aligned.
std::shared_ptr<const void> aligned_copy(const void* data, size_t size) {
  const size_t rounded = align_up(std::max<size_t>(size, 1), kWeightAlignment);
  void* memory = std::aligned_alloc(kWeightAlignment, rounded);
  if (memory == nullptr) return nullptr;
  std::memcpy(memory, data, size);
  return std::shared_ptr<const void>(memory, [](const void* p) { std::free(const_cast<void*>(p)); });
}

}  // namespace

StatusOr<ModelFile> parse_model_file_bytes(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                                           const std::string& label, bool check_cpu) {
  KESTREL_ASSIGN_OR_RETURN(const FileHeader header, decode_file_header(data, size, label));
  const uint64_t checksum = model_checksum(data + header.header_size, size - header.header_size);
  if (checksum != header.checksum) {
    return data_loss(label, ": corrupted: checksum mismatch (header says ", hex64(header.checksum),
                     ", contents hash to ", hex64(checksum), ")");
  }
  if (header.flatbuffer_size >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return data_loss(label, ": corrupted: model section of ", header.flatbuffer_size, " bytes exceeds the 2 GiB limit");
  }
  const uint8_t* flatbuffer = data + header.flatbuffer_offset;
  flatbuffers::Verifier verifier(flatbuffer, header.flatbuffer_size, verifier_options(header.flatbuffer_size));
  if (!fb::VerifyModelBuffer(verifier)) {
    return data_loss(label, ": corrupted: the model section fails FlatBuffers verification");
  }
  const fb::Model* model = fb::GetModel(flatbuffer);
  if (check_cpu && model->target() != nullptr) {
    const std::string isa = model->target()->isa() ? model->target()->isa()->str() : "";
    const Status supported = check_cpu_features(isa, model->target()->required_features(), cpu_features());
    if (!supported.ok()) return supported.with_context(label);
  }
  const WeightsSection weights{data + header.weights_offset, header.weights_size, std::move(owner)};
  return decode_model(*model, weights, label);
}

StatusOr<ModelFile> load_model_buffer(std::shared_ptr<const void> owner, const void* data, size_t size,
                                      const std::string& label) {
  alignas(kWeightAlignment) static const uint8_t kEmpty[kWeightAlignment] = {};
  if (data == nullptr || size == 0) {
    if (size != 0) return invalid_argument(label, ": null buffer of ", size, " bytes");
    data = kEmpty;
  }
  if (reinterpret_cast<uintptr_t>(data) % kWeightAlignment != 0) {
    owner = aligned_copy(data, size);
    if (owner == nullptr) return invalid_argument(label, ": cannot allocate ", size, " bytes for an aligned copy");
    data = owner.get();
  }
  return parse_model_file_bytes(std::move(owner), static_cast<const uint8_t*>(data), size, label, true);
}

StatusOr<ModelFile> load_model_file(const std::string& path) {
  // Regular files only: opening a FIFO would block and a device such as
  // /dev/zero would read without end.
  int64_t file_size = 0;
  KESTREL_ASSIGN_OR_RETURN(const int fd, open_regular_file(path, kDefaultMaxFileBytes, &file_size));
  const size_t size = static_cast<size_t>(file_size);
  if (size == 0) {
    ::close(fd);
    return load_model_buffer(nullptr, nullptr, 0, path);
  }
  // MAP_POPULATE maps the whole file in one go: the checksum touches every
  // page anyway, and one bulk fault is much cheaper than one per page.
  void* mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file open
  if (mapping == MAP_FAILED) return invalid_argument(path, ": cannot map model file: ", std::strerror(map_errno));
  std::shared_ptr<const void> owner(mapping, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return parse_model_file_bytes(std::move(owner), static_cast<const uint8_t*>(mapping), size, path, true);
}

}  // namespace kestrel
