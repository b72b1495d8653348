#include "frontend/onnx/onnx_tensor.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

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
    return data_loss(label, ": holds ", field.size(), " values but its shape ", shape_string(tensor.shape()),
                     " needs ", tensor.size());
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
    case DType::kUInt16: fill(uint16_t{}); break;
    case DType::kFloat16: fill(uint16_t{}); break;  // bit patterns in int32_data
    case DType::kInt32: fill(int32_t{}); break;
    case DType::kUInt32: fill(uint32_t{}); break;
    case DType::kInt64: fill(int64_t{}); break;
    case DType::kUInt64: fill(uint64_t{}); break;
    case DType::kBool: fill(bool{}); break;
    default: return unimplemented(label, ": element type ", dtype_name(tensor.dtype()), " is not supported");
  }
  return {};
}

StatusOr<std::string> read_external_data(const onnx::TensorProto& proto, const std::string& base_dir,
                                         size_t nbytes) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    try {
      if (entry.key() == "location") location = entry.value();
      if (entry.key() == "offset") offset = std::stoll(entry.value());
      if (entry.key() == "length") length = std::stoll(entry.value());
    } catch (const std::exception&) {
      return data_loss(tensor_label(proto), ": external data ", entry.key(), " '", entry.value(), "' is not a number");
    }
  }
  const std::string label = tensor_label(proto);
  if (location.empty()) return data_loss(label, ": external data has no location");
  const std::filesystem::path path = std::filesystem::path(base_dir) / location;
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found(label, ": cannot open external data file '", path.string(), "'");
  if (length >= 0 && static_cast<size_t>(length) != nbytes) {
    return data_loss(label, ": external data length ", length, " does not match its shape (", nbytes, " bytes)");
  }
  std::error_code error;
  const auto file_size = std::filesystem::file_size(path, error);
  if (error || offset < 0 || static_cast<uint64_t>(offset) + nbytes > file_size) {
    return data_loss(label, ": external data file '", path.string(), "' is too short for offset ", offset, " + ",
                     nbytes, " bytes");
  }
  std::string bytes(nbytes, '\0');
  file.seekg(offset);
  file.read(bytes.data(), static_cast<std::streamsize>(nbytes));
  if (!file) return data_loss(label, ": failed to read external data file '", path.string(), "'");
  return bytes;
}

}  // namespace

StatusOr<Tensor> tensor_from_onnx(const onnx::TensorProto& proto, const std::string& base_dir) {
  const std::string label = tensor_label(proto);
  const DType dtype = dtype_from_int(proto.data_type());
  if (!dtype_is_supported(dtype)) {
    return unimplemented(label, ": element type ", dtype == DType::kUndefined
                                                       ? str_cat("#", proto.data_type())
                                                       : dtype_name(dtype), " is not supported");
  }
  if (proto.has_segment()) return unimplemented(label, ": segmented tensors are not supported");
  Shape shape(proto.dims().begin(), proto.dims().end());
  int64_t elements = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return data_loss(label, ": negative dim in shape ", shape_string(shape));
    if (dim > 0 && elements > std::numeric_limits<int64_t>::max() / 16 / dim) {
      return data_loss(label, ": shape ", shape_string(shape), " is too large");
    }
    elements *= dim;
  }
  Tensor tensor(dtype, shape);
  const size_t nbytes = tensor.nbytes();
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    KESTREL_ASSIGN_OR_RETURN(std::string bytes, read_external_data(proto, base_dir, nbytes));
    if (nbytes) std::memcpy(tensor.raw_data(), bytes.data(), nbytes);
    return tensor;
  }
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != nbytes) {
      return data_loss(label, ": raw_data has ", proto.raw_data().size(), " bytes but shape ", shape_string(shape),
                       " of ", dtype_name(dtype), " needs ", nbytes);
    }
    if (nbytes) std::memcpy(tensor.raw_data(), proto.raw_data().data(), nbytes);
    return tensor;
  }
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
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found(path, ": cannot open file");
  onnx::TensorProto proto;
  if (!proto.ParseFromIstream(&file)) return data_loss(path, ": not a serialized ONNX TensorProto");
  if (name) *name = proto.name();
  auto tensor = tensor_from_onnx(proto, std::filesystem::path(path).parent_path().string());
  if (!tensor.ok()) return tensor.status().with_context(path);
  return tensor;
}

Status write_tensor_pb(const std::string& path, const Tensor& tensor, const std::string& name) {
  onnx::TensorProto proto;
  tensor_to_onnx(tensor, name, &proto);
  std::ofstream file(path, std::ios::binary);
  if (!file || !proto.SerializeToOstream(&file)) return not_found(path, ": cannot write file");
  return {};
}

}  // namespace kestrel
