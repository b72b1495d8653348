#include "frontend/onnx/onnx_tensor.h"

#include <onnx/onnx_pb.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

#include "base/checked_math.h"
#include "base/regular_file.h"
#include "base/safe_write.h"

namespace kestrel {
namespace {

std::string tensor_label(const onnx::TensorProto& proto) {
  return proto.name().empty() ? std::string("tensor") : str_cat("tensor '", proto.name(), "'");
}

// Copies `count` elements of a repeated field into the tensor, converting to
// the element type; ONNX stores small types widened (int8 in int32_data, ...).
template <typename Field>
Status copy_field(const Field& field, Tensor& tensor, const std::string& label) {
  if (static_cast<int64_t>(field.size()) != tensor.size()) {
    return data_loss(label, ": holds ", field.size(), " values but its shape ", shape_string(tensor.shape()), " needs ",
                     tensor.size());
  }
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    T* dst = tensor.data<T>();
    for (int64_t i = 0; i < tensor.size(); ++i) dst[i] = static_cast<T>(field.Get(static_cast<int>(i)));
  };
  switch (tensor.dtype()) {
    case DType::kFloat32: fill(float{}); break;
    case DType::kFloat64: fill(double{}); break;
    case DType::kInt8: fill(int8_t{}); break;
    case DType::kUInt8: fill(uint8_t{}); break;
    case DType::kInt16: fill(int16_t{}); break;
    case DType::kUInt16:
    case DType::kFloat16: fill(uint16_t{}); break;  // float16: bit patterns in int32_data
    case DType::kInt32: fill(int32_t{}); break;
    case DType::kUInt32: fill(uint32_t{}); break;
    case DType::kInt64: fill(int64_t{}); break;
    case DType::kUInt64: fill(uint64_t{}); break;
    case DType::kBool: fill(bool{}); break;
    default: return unimplemented(label, ": element type ", dtype_name(tensor.dtype()), " is not supported");
  }
  return {};
}

struct ExternalData {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;  // -1: not given
};

StatusOr<ExternalData> parse_external_data(const onnx::TensorProto& proto, const std::string& label) {
  ExternalData data;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") {
      data.location = entry.value();
      continue;
    }
    if (entry.key() != "offset" && entry.key() != "length") continue;
    size_t used = 0;
    int64_t number = -1;
    try {
      number = std::stoll(entry.value(), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != entry.value().size() || number < 0) {
      return data_loss(label, ": external data ", entry.key(), " '", entry.value(), "' is not a non-negative number");
    }
    (entry.key() == "offset" ? data.offset : data.length) = number;
  }
  if (data.location.empty()) return data_loss(label, ": external data has no location");
  return data;
}

// True when `path` is `folder` or lies below it (both canonical).
bool is_inside(const std::filesystem::path& path, const std::filesystem::path& folder) {
  auto p = path.begin();
  for (auto f = folder.begin(); f != folder.end(); ++f, ++p) {
    if (p == path.end() || *p != *f) return false;
  }
  return true;
}

// ONNX's rule for external data: a relative location with no '..' part that,
// with symlinks resolved, stays inside the model's folder. Checked before
// anything is opened, so a model cannot make Kestrel read /etc/passwd.
StatusOr<std::filesystem::path> resolve_external_location(const std::string& location, const std::string& base_dir,
                                                          const std::string& label) {
  namespace fs = std::filesystem;
  if (location.find('\0') != std::string::npos) {
    return invalid_argument(label, ": external data location contains a NUL character");
  }
  const fs::path relative(location);
  if (relative.is_absolute() || relative.has_root_name() || relative.has_root_directory()) {
    return invalid_argument(label, ": external data location '", location,
                            "' is an absolute path; it must be relative to the model's folder");
  }
  for (const auto& part : relative) {
    if (part == "..") {
      return invalid_argument(label, ": external data location '", location,
                              "' contains '..'; it must stay inside the model's folder");
    }
  }
  std::error_code error;
  const fs::path folder = fs::canonical(base_dir.empty() ? "." : base_dir, error);
  if (error) return not_found(label, ": cannot resolve the model's folder '", base_dir, "': ", error.message());
  const fs::path joined = folder / relative;
  if (!fs::exists(fs::symlink_status(joined, error))) {
    return not_found(label, ": external data file '", joined.string(), "' does not exist");
  }
  const fs::path resolved = fs::canonical(joined, error);
  if (error) return not_found(label, ": cannot resolve external data file '", joined.string(), "': ", error.message());
  if (!is_inside(resolved, folder)) {
    return invalid_argument(label, ": external data location '", location, "' resolves to '", resolved.string(),
                            "', outside the model's folder '", folder.string(), "'");
  }
  return resolved;
}

// An external data file opened (a regular file, checked to hold the
// tensor's bytes) before the tensor is allocated.
class ExternalFile {
 public:
  ExternalFile(std::filesystem::path path, int fd, int64_t offset) : path_(std::move(path)), fd_(fd), offset_(offset) {}
  ExternalFile(ExternalFile&& other) noexcept
      : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), offset_(other.offset_) {}
  ExternalFile(const ExternalFile&) = delete;
  ExternalFile& operator=(const ExternalFile&) = delete;
  ExternalFile& operator=(ExternalFile&&) = delete;
  ~ExternalFile() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status read(int64_t nbytes, void* dst, const std::string& label) const {
    char* out = static_cast<char*>(dst);
    int64_t done = 0;
    while (done < nbytes) {
      const ssize_t n =
          ::pread(fd_, out + done, static_cast<size_t>(nbytes - done), static_cast<off_t>(offset_ + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += n;
    }
    if (done != nbytes) {
      return data_loss(label, ": external data file '", path_.string(), "' ended after ", done, " of ", nbytes,
                       " bytes");
    }
    return {};
  }

 private:
  std::filesystem::path path_;
  int fd_;
  int64_t offset_;
};

StatusOr<ExternalFile> open_external_data(const onnx::TensorProto& proto, const std::string& base_dir, int64_t nbytes,
                                          const std::string& label) {
  KESTREL_ASSIGN_OR_RETURN(const ExternalData data, parse_external_data(proto, label));
  KESTREL_ASSIGN_OR_RETURN(std::filesystem::path path, resolve_external_location(data.location, base_dir, label));
  if (data.length >= 0 && data.length != nbytes) {
    return data_loss(label, ": external data length ", data.length, " does not match its shape (", nbytes, " bytes)");
  }
  int64_t size = 0;
  auto fd = open_regular_file(path.string(), std::numeric_limits<int64_t>::max(), &size);
  if (!fd.ok()) return fd.status().with_context(str_cat(label, ": external data"));
  ExternalFile file(path, *fd, data.offset);
  const auto end = checked_add(data.offset, nbytes);
  if (!end || *end > size) {
    return data_loss(label, ": external data file '", path.string(), "' has ", size, " bytes, too short for offset ",
                     data.offset, " + ", nbytes, " bytes");
  }
  return file;
}

// How many values the typed field that holds this dtype has.
int64_t typed_field_size(const onnx::TensorProto& proto, DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return proto.float_data_size();
    case DType::kFloat64: return proto.double_data_size();
    case DType::kInt64: return proto.int64_data_size();
    case DType::kUInt32:
    case DType::kUInt64: return proto.uint64_data_size();
    default: return proto.int32_data_size();
  }
}

}  // namespace

StatusOr<Tensor> tensor_from_onnx(const onnx::TensorProto& proto, const std::string& base_dir) {
  const std::string label = tensor_label(proto);
  const DType dtype = dtype_from_int(proto.data_type());
  if (!dtype_is_supported(dtype)) {
    return unimplemented(label, ": element type ",
                         dtype == DType::kUndefined ? str_cat("#", proto.data_type()) : dtype_name(dtype),
                         " is not supported");
  }
  if (proto.has_segment()) return unimplemented(label, ": segmented tensors are not supported");
  Shape shape(proto.dims().begin(), proto.dims().end());
  for (int64_t dim : shape) {
    if (dim < 0) return data_loss(label, ": negative dim in shape ", shape_string(shape));
  }
  // Sizes come from the file: checked for overflow and against the bytes
  // actually present before anything is allocated.
  const auto elements = checked_element_count(shape);
  const auto checked_nbytes =
      elements ? checked_bytes(*elements, static_cast<int64_t>(dtype_size(dtype))) : std::nullopt;
  if (!checked_nbytes) {
    return data_loss(label, ": shape ", shape_string(shape), " of ", dtype_name(dtype),
                     " has more elements or bytes than 64-bit sizes can count");
  }
  const int64_t nbytes = *checked_nbytes;
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    KESTREL_ASSIGN_OR_RETURN(const ExternalFile file, open_external_data(proto, base_dir, nbytes, label));
    Tensor tensor(dtype, shape);
    KESTREL_RETURN_IF_ERROR(file.read(nbytes, tensor.raw_data(), label));
    return tensor;
  }
  if (proto.has_raw_data()) {
    if (static_cast<int64_t>(proto.raw_data().size()) != nbytes) {
      return data_loss(label, ": raw_data has ", proto.raw_data().size(), " bytes but shape ", shape_string(shape),
                       " of ", dtype_name(dtype), " needs ", nbytes);
    }
    Tensor tensor(dtype, shape);
    if (nbytes) std::memcpy(tensor.raw_data(), proto.raw_data().data(), static_cast<size_t>(nbytes));
    return tensor;
  }
  if (typed_field_size(proto, dtype) != *elements) {
    return data_loss(label, ": holds ", typed_field_size(proto, dtype), " values but its shape ", shape_string(shape),
                     " needs ", *elements);
  }
  Tensor tensor(dtype, shape);
  Status status;
  switch (dtype) {
    case DType::kFloat32: status = copy_field(proto.float_data(), tensor, label); break;
    case DType::kFloat64: status = copy_field(proto.double_data(), tensor, label); break;
    case DType::kInt64: status = copy_field(proto.int64_data(), tensor, label); break;
    case DType::kUInt32:
    case DType::kUInt64: status = copy_field(proto.uint64_data(), tensor, label); break;
    default: status = copy_field(proto.int32_data(), tensor, label); break;
  }
  if (!status.ok()) return status;
  return tensor;
}

void tensor_to_onnx(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));
  for (int64_t dim : tensor.shape()) proto->add_dims(dim);
  proto->set_raw_data(tensor.raw_data(), tensor.nbytes());
}

StatusOr<Tensor> read_tensor_pb(const std::string& path, std::string* name) {
  KESTREL_ASSIGN_OR_RETURN(const std::string bytes, read_regular_file(path, kMaxProtobufBytes));
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) return data_loss(path, ": not a serialized ONNX TensorProto");
  if (name) *name = proto.name();
  auto tensor = tensor_from_onnx(proto, std::filesystem::path(path).parent_path().string());
  if (!tensor.ok()) return tensor.status().with_context(path);
  return tensor;
}

Status write_tensor_pb(const std::string& path, const Tensor& tensor, const std::string& name) {
  onnx::TensorProto proto;
  tensor_to_onnx(tensor, name, &proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) return invalid_argument(path, ": cannot serialize tensor '", name, "'");
  return write_file_atomically(path, bytes.data(), bytes.size(), "tensor file");
}

}  // namespace kestrel
