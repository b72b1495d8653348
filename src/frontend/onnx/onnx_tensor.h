// Conversion between ONNX TensorProto and Tensor, for every storage form ONNX
// allows: raw_data, the typed repeated fields, and external data files.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "ir/tensor.h"

namespace onnx {
class TensorProto;
}

namespace kestrel {

// Protobuf cannot parse a message of 2 GiB or more; larger ONNX models keep
// their weights in external data files.
inline constexpr int64_t kMaxProtobufBytes = (int64_t{1} << 31) - 1;

// Checks the shape against the bytes present (raw_data, typed field or
// external data file) before allocating. External data must be a regular
// file inside `base_dir` (relative, no '..', symlinks resolved).
// `base_dir` resolves external data locations; `label` names the tensor in errors.
StatusOr<Tensor> tensor_from_onnx(const onnx::TensorProto& proto, const std::string& base_dir);
// Always writes raw_data.
void tensor_to_onnx(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

// Reads / writes a serialized TensorProto file (.pb), as ONNX's test data uses.
StatusOr<Tensor> read_tensor_pb(const std::string& path, std::string* name = nullptr);
Status write_tensor_pb(const std::string& path, const Tensor& tensor, const std::string& name);

}  // namespace kestrel
