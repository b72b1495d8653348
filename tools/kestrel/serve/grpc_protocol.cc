#include "serve/grpc_protocol.h"

#include <cstring>
#include <type_traits>
#include <utility>

namespace kestrel::serve {
namespace {

using inference::InferTensorContents;
using inference::ModelInferRequest;

// Copies the typed values into `dst` as Dst elements: exactly as many as
// the tensor holds, each in Dst's range (8- and 16-bit types travel in
// 32-bit fields).
template <typename Dst, typename Values>
Status copy_values(const Values& values, std::span<std::byte> dst, const char* field, const std::string& what) {
  const size_t count = dst.size() / sizeof(Dst);
  if (static_cast<size_t>(values.size()) != count) {
    return invalid_argument(what, ": its shape needs ", count, " values in contents.", field, ", got ", values.size());
  }
  for (size_t i = 0; i < count; ++i) {
    const auto value = values[static_cast<int>(i)];
    if constexpr (std::is_integral_v<Dst> && !std::is_same_v<Dst, bool>) {
      if (!std::in_range<Dst>(value)) {
        return invalid_argument(what, ": value ", value, " at index ", i, " of contents.", field,
                                " is out of the datatype's range");
      }
    }
    const Dst element = static_cast<Dst>(value);
    std::memcpy(dst.data() + i * sizeof(Dst), &element, sizeof(Dst));
  }
  return {};
}

// The datatype's field of InferTensorContents, as the protocol assigns them.
Status read_typed_contents(const InferTensorContents& contents, api::DType dtype, std::span<std::byte> dst,
                           const std::string& what) {
  switch (dtype) {
    case api::DType::kFloat32: return copy_values<float>(contents.fp32_contents(), dst, "fp32_contents", what);
    case api::DType::kFloat64: return copy_values<double>(contents.fp64_contents(), dst, "fp64_contents", what);
    case api::DType::kInt8: return copy_values<int8_t>(contents.int_contents(), dst, "int_contents", what);
    case api::DType::kInt16: return copy_values<int16_t>(contents.int_contents(), dst, "int_contents", what);
    case api::DType::kInt32: return copy_values<int32_t>(contents.int_contents(), dst, "int_contents", what);
    case api::DType::kInt64: return copy_values<int64_t>(contents.int64_contents(), dst, "int64_contents", what);
    case api::DType::kUInt8: return copy_values<uint8_t>(contents.uint_contents(), dst, "uint_contents", what);
    case api::DType::kUInt16: return copy_values<uint16_t>(contents.uint_contents(), dst, "uint_contents", what);
    case api::DType::kUInt32: return copy_values<uint32_t>(contents.uint_contents(), dst, "uint_contents", what);
    case api::DType::kUInt64: return copy_values<uint64_t>(contents.uint64_contents(), dst, "uint64_contents", what);
    case api::DType::kBool: return copy_values<bool>(contents.bool_contents(), dst, "bool_contents", what);
    default:
      return invalid_argument(what, ": ", datatype_name(dtype),
                              " has no typed contents field: send it in raw_input_contents");
  }
}

Status read_raw_contents(const std::string& raw, size_t entry, std::span<std::byte> dst, const std::string& what) {
  if (raw.size() != dst.size()) {
    return invalid_argument(what, ": raw_input_contents[", entry, "] holds ", raw.size(), " bytes but its shape needs ",
                            dst.size(), raw.size() < dst.size() ? " (truncated)" : "");
  }
  std::memcpy(dst.data(), raw.data(), raw.size());
  return {};
}

Status parse_inputs(const ModelInferRequest& request, const ModelSignature& signature, ParsedInferRequest& parsed) {
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return invalid_argument("raw_input_contents has ", request.raw_input_contents_size(), " entries for ",
                            request.inputs_size(), " inputs");
  }
  InputChecker checker(signature, parsed);
  for (int i = 0; i < request.inputs_size(); ++i) {
    const ModelInferRequest::InferInputTensor& tensor = request.inputs(i);
    KESTREL_ASSIGN_OR_RETURN(const size_t index, checker.find(tensor.name()));
    const TensorSpec& spec = signature.inputs[index];
    const std::string what = InputChecker::what(spec);
    const std::vector<int64_t> shape(tensor.shape().begin(), tensor.shape().end());
    KESTREL_ASSIGN_OR_RETURN(std::vector<std::byte>* const dst, checker.accept(index, tensor.datatype(), shape));
    if (raw && tensor.has_contents() && tensor.contents().ByteSizeLong() > 0) {
      return invalid_argument(what, ": values in both contents and raw_input_contents");
    }
    KESTREL_RETURN_IF_ERROR(raw ? read_raw_contents(request.raw_input_contents(i), static_cast<size_t>(i), *dst, what)
                                : read_typed_contents(tensor.contents(), spec.dtype, *dst, what));
  }
  return checker.finish();
}

Status parse_outputs(const ModelInferRequest& request, const ModelSignature& signature, ParsedInferRequest& parsed) {
  if (request.outputs_size() == 0) {
    for (size_t i = 0; i < signature.outputs.size(); ++i) parsed.outputs.push_back({i, true});
    return {};
  }
  for (const ModelInferRequest::InferRequestedOutputTensor& output : request.outputs()) {
    KESTREL_ASSIGN_OR_RETURN(const size_t index, find_output(signature, output.name()));
    if (output.parameters().count("classification") > 0) {
      return invalid_argument("output '", output.name(), "': the classification extension is not supported");
    }
    parsed.outputs.push_back({index, true});
  }
  return {};
}

}  // namespace

StatusOr<ParsedInferRequest> parse_grpc_infer_request(const ModelInferRequest& request,
                                                      const ModelSignature& signature) {
  ParsedInferRequest parsed;
  if (!request.id().empty()) parsed.id = request.id();
  KESTREL_RETURN_IF_ERROR(parse_inputs(request, signature, parsed));
  KESTREL_RETURN_IF_ERROR(parse_outputs(request, signature, parsed));
  return parsed;
}

void encode_grpc_infer_response(const std::string& model_name, const std::string& model_version,
                                const ModelSignature& signature, const ParsedInferRequest& request,
                                std::span<const std::vector<std::byte>> outputs,
                                inference::ModelInferResponse& response) {
  response.set_model_name(model_name);
  response.set_model_version(model_version);
  if (request.id) response.set_id(*request.id);
  for (const RequestedOutput& requested : request.outputs) {
    const TensorSpec& spec = signature.outputs[requested.index];
    inference::ModelInferResponse::InferOutputTensor* tensor = response.add_outputs();
    tensor->set_name(spec.name);
    tensor->set_datatype(datatype_name(spec.dtype));
    for (const int64_t dim : shape_with_rows(signature, spec, request.rows)) tensor->add_shape(dim);
    const std::vector<std::byte>& data = outputs[requested.index];
    response.add_raw_output_contents(reinterpret_cast<const char*>(data.data()), data.size());
  }
}

}  // namespace kestrel::serve
