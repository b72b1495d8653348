#include "serve/protocol.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "serve/tensor_values.h"

namespace kestrel::serve {
namespace {

using nlohmann::json;

struct DatatypeName {
  api::DType dtype;
  const char* name;
};
constexpr DatatypeName kDatatypeNames[] = {
    {api::DType::kBool, "BOOL"},     {api::DType::kUInt8, "UINT8"},   {api::DType::kUInt16, "UINT16"},
    {api::DType::kUInt32, "UINT32"}, {api::DType::kUInt64, "UINT64"}, {api::DType::kInt8, "INT8"},
    {api::DType::kInt16, "INT16"},   {api::DType::kInt32, "INT32"},   {api::DType::kInt64, "INT64"},
    {api::DType::kFloat16, "FP16"},  {api::DType::kFloat32, "FP32"},  {api::DType::kFloat64, "FP64"},
};

size_t tensor_bytes(const ModelSignature& signature, const TensorSpec& spec, int64_t rows) {
  return signature.max_batch > 0 ? static_cast<size_t>(rows) * spec.row_bytes : spec.row_bytes;
}

StatusOr<std::vector<int64_t>> parse_shape(const json& tensor, const std::string& what) {
  const auto it = tensor.find("shape");
  if (it == tensor.end() || !it->is_array()) return invalid_argument(what, ": 'shape' must be an array of integers");
  std::vector<int64_t> shape;
  for (const json& dim : *it) {
    if (!dim.is_number_integer() || dim.get<int64_t>() < 0) {
      return invalid_argument(what, ": 'shape' must be an array of integers >= 0");
    }
    shape.push_back(dim.get<int64_t>());
  }
  return shape;
}

// The batch rows of one input, or the reason its shape does not fit the model.
StatusOr<int64_t> input_rows(const ModelSignature& signature, const TensorSpec& spec, std::span<const int64_t> shape,
                             const std::string& what) {
  const std::vector<int64_t> expected = protocol_shape(signature, spec);
  bool fits = shape.size() == expected.size();
  for (size_t i = 0; fits && i < shape.size(); ++i) fits = expected[i] < 0 || expected[i] == shape[i];
  if (!fits)
    return invalid_argument(what, ": shape ", shape_text(shape), " does not match the model's ", shape_text(expected));
  if (signature.max_batch <= 0) return shape.empty() ? 1 : shape[0];
  if (shape[0] < 1 || shape[0] > signature.max_batch) {
    return invalid_argument(what, ": batch ", shape[0], " is outside the model's 1..", signature.max_batch);
  }
  return shape[0];
}

std::optional<size_t> binary_size_parameter(const json& object) {
  const auto parameters = object.find("parameters");
  if (parameters == object.end() || !parameters->is_object()) return std::nullopt;
  const auto size = parameters->find("binary_data_size");
  if (size == parameters->end() || !size->is_number_unsigned()) return std::nullopt;
  return size->get<size_t>();
}

bool bool_parameter(const json& object, const char* key, bool fallback) {
  const auto parameters = object.find("parameters");
  if (parameters == object.end() || !parameters->is_object()) return fallback;
  const auto value = parameters->find(key);
  return value != parameters->end() && value->is_boolean() ? value->get<bool>() : fallback;
}

// Reads one input's values (JSON `data`, or its slice of the binary part).
Status read_input_data(const json& tensor, const TensorSpec& spec, std::vector<std::byte>& dst,
                       std::string_view& binary, bool has_binary_part, const std::string& what) {
  const size_t bytes = dst.size();
  if (const std::optional<size_t> size = binary_size_parameter(tensor)) {
    if (!has_binary_part) {
      return invalid_argument(what, ": 'binary_data_size' given without an Inference-Header-Content-Length header");
    }
    if (*size != bytes)
      return invalid_argument(what, ": binary_data_size ", *size, " but its shape needs ", bytes, " bytes");
    if (binary.size() < bytes) {
      return invalid_argument(what, ": binary data truncated: needs ", bytes, " bytes, ", binary.size(), " remain");
    }
    std::memcpy(dst.data(), binary.data(), bytes);
    binary.remove_prefix(bytes);
    return {};
  }
  const auto data = tensor.find("data");
  if (data == tensor.end()) return invalid_argument(what, ": no 'data' and no 'binary_data_size' parameter");
  return json_to_tensor(*data, spec.dtype, dst, what);
}

StatusOr<size_t> parse_header_length(std::string_view text, size_t body_size) {
  size_t length = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (error != std::errc() || end != text.data() + text.size()) {
    return invalid_argument("Inference-Header-Content-Length '", text, "' is not a byte count");
  }
  if (length > body_size) {
    return invalid_argument("Inference-Header-Content-Length ", length, " exceeds the body's ", body_size, " bytes");
  }
  return length;
}

StatusOr<json> parse_json_header(std::string_view header) {
  json request;
  try {
    request = json::parse(header.begin(), header.end());
  } catch (const json::parse_error& error) {
    return invalid_argument("request is not valid JSON: ", error.what());
  }
  if (!request.is_object()) return invalid_argument("request must be a JSON object");
  return request;
}

Status parse_inputs(const json& request, std::string_view binary, bool has_binary_part, const ModelSignature& signature,
                    ParsedInferRequest& parsed) {
  const auto inputs = request.find("inputs");
  if (inputs == request.end() || !inputs->is_array()) return invalid_argument("request has no 'inputs' array");
  InputChecker checker(signature, parsed);
  for (const json& tensor : *inputs) {
    if (!tensor.is_object() || !tensor.contains("name") || !tensor["name"].is_string()) {
      return invalid_argument("every input must be an object with a 'name'");
    }
    KESTREL_ASSIGN_OR_RETURN(const size_t index, checker.find(tensor["name"].get<std::string>()));
    const TensorSpec& spec = signature.inputs[index];
    const std::string what = InputChecker::what(spec);
    const auto datatype = tensor.find("datatype");
    if (datatype == tensor.end() || !datatype->is_string()) return invalid_argument(what, ": no 'datatype'");
    KESTREL_ASSIGN_OR_RETURN(const std::vector<int64_t> shape, parse_shape(tensor, what));
    KESTREL_ASSIGN_OR_RETURN(std::vector<std::byte>* const dst,
                             checker.accept(index, datatype->get<std::string>(), shape));
    KESTREL_RETURN_IF_ERROR(read_input_data(tensor, spec, *dst, binary, has_binary_part, what));
  }
  KESTREL_RETURN_IF_ERROR(checker.finish());
  if (!binary.empty()) return invalid_argument(binary.size(), " bytes of binary data follow the last binary input");
  return {};
}

Status parse_outputs(const json& request, const ModelSignature& signature, ParsedInferRequest& parsed) {
  const bool binary_default = bool_parameter(request, "binary_data_output", false);
  const auto outputs = request.find("outputs");
  if (outputs == request.end()) {
    for (size_t i = 0; i < signature.outputs.size(); ++i) parsed.outputs.push_back({i, binary_default});
    return {};
  }
  if (!outputs->is_array()) return invalid_argument("'outputs' must be an array");
  for (const json& output : *outputs) {
    if (!output.is_object() || !output.contains("name") || !output["name"].is_string()) {
      return invalid_argument("every requested output must be an object with a 'name'");
    }
    const std::string name = output["name"].get<std::string>();
    KESTREL_ASSIGN_OR_RETURN(const size_t index, find_output(signature, name));
    if (output.contains("parameters") && output["parameters"].is_object() &&
        output["parameters"].contains("classification")) {
      return invalid_argument("output '", name, "': the classification extension is not supported");
    }
    parsed.outputs.push_back({index, bool_parameter(output, "binary_data", binary_default)});
  }
  return {};
}

}  // namespace

InputChecker::InputChecker(const ModelSignature& signature, ParsedInferRequest& parsed)
    : signature_(signature), parsed_(parsed), seen_(signature.inputs.size(), false) {
  parsed_.inputs.assign(signature.inputs.size(), {});
}

StatusOr<size_t> InputChecker::find(const std::string& name) {
  const auto spec = std::find_if(signature_.inputs.begin(), signature_.inputs.end(),
                                 [&](const TensorSpec& s) { return s.name == name; });
  if (spec == signature_.inputs.end()) return invalid_argument("the model has no input '", name, "'");
  const size_t index = static_cast<size_t>(spec - signature_.inputs.begin());
  if (seen_[index]) return invalid_argument(what(*spec), " is given twice");
  seen_[index] = true;
  return index;
}

StatusOr<std::vector<std::byte>*> InputChecker::accept(size_t index, std::string_view datatype,
                                                       std::span<const int64_t> shape) {
  const TensorSpec& spec = signature_.inputs[index];
  const std::string what = InputChecker::what(spec);
  if (datatype != datatype_name(spec.dtype)) {
    return invalid_argument(what, ": datatype ", datatype, " but the model takes ", datatype_name(spec.dtype));
  }
  KESTREL_ASSIGN_OR_RETURN(const int64_t rows, input_rows(signature_, spec, shape, what));
  if (rows_ && *rows_ != rows)
    return invalid_argument(what, ": batch ", rows, " differs from the other inputs' ", *rows_);
  rows_ = rows;
  parsed_.inputs[index].resize(tensor_bytes(signature_, spec, rows));
  return &parsed_.inputs[index];
}

Status InputChecker::finish() {
  for (size_t i = 0; i < seen_.size(); ++i) {
    if (!seen_[i]) return invalid_argument("missing input '", signature_.inputs[i].name, "'");
  }
  parsed_.rows = rows_.value_or(1);
  return {};
}

StatusOr<size_t> find_output(const ModelSignature& signature, std::string_view name) {
  const auto spec = std::find_if(signature.outputs.begin(), signature.outputs.end(),
                                 [&](const TensorSpec& s) { return s.name == name; });
  if (spec == signature.outputs.end()) return invalid_argument("the model has no output '", name, "'");
  return static_cast<size_t>(spec - signature.outputs.begin());
}

std::string shape_text(std::span<const int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ',';
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::string datatype_name(api::DType dtype) {
  for (const DatatypeName& entry : kDatatypeNames) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "UNDEFINED";
}

std::optional<api::DType> parse_datatype(std::string_view name) {
  for (const DatatypeName& entry : kDatatypeNames) {
    if (name == entry.name) return entry.dtype;
  }
  return std::nullopt;
}

std::vector<int64_t> protocol_shape(const ModelSignature& signature, const TensorSpec& spec) {
  std::vector<int64_t> shape = spec.shape;
  if (signature.max_batch > 0 && !shape.empty()) shape[0] = -1;
  return shape;
}

std::vector<int64_t> shape_with_rows(const ModelSignature& signature, const TensorSpec& spec, int64_t rows) {
  std::vector<int64_t> shape = spec.shape;
  if (signature.max_batch > 0 && !shape.empty()) shape[0] = rows;
  return shape;
}

StatusOr<ParsedInferRequest> parse_infer_request(std::string_view body, std::optional<std::string_view> header_length,
                                                 const ModelSignature& signature) {
  std::string_view header = body;
  std::string_view binary;
  if (header_length) {
    KESTREL_ASSIGN_OR_RETURN(const size_t length, parse_header_length(*header_length, body.size()));
    header = body.substr(0, length);
    binary = body.substr(length);
  }
  KESTREL_ASSIGN_OR_RETURN(const json request, parse_json_header(header));
  ParsedInferRequest parsed;
  if (const auto id = request.find("id"); id != request.end()) {
    if (!id->is_string()) return invalid_argument("'id' must be a string");
    parsed.id = id->get<std::string>();
  }
  KESTREL_RETURN_IF_ERROR(parse_inputs(request, binary, header_length.has_value(), signature, parsed));
  KESTREL_RETURN_IF_ERROR(parse_outputs(request, signature, parsed));
  return parsed;
}

InferResponse encode_infer_response(const std::string& model_name, const std::string& model_version,
                                    const ModelSignature& signature, const ParsedInferRequest& request,
                                    std::span<const std::vector<std::byte>> outputs) {
  json response = {{"model_name", model_name}, {"model_version", model_version}};
  if (request.id) response["id"] = *request.id;
  json& out = response["outputs"] = json::array();
  size_t binary_bytes = 0;
  for (const RequestedOutput& requested : request.outputs) {
    const TensorSpec& spec = signature.outputs[requested.index];
    json tensor = {{"name", spec.name},
                   {"datatype", datatype_name(spec.dtype)},
                   {"shape", shape_with_rows(signature, spec, request.rows)}};
    const std::vector<std::byte>& data = outputs[requested.index];
    if (requested.binary) {
      tensor["parameters"] = {{"binary_data_size", data.size()}};
      binary_bytes += data.size();
    } else {
      tensor["data"] = tensor_to_json(data, spec.dtype);
    }
    out.push_back(std::move(tensor));
  }
  InferResponse result;
  result.body = response.dump(-1, ' ', false, json::error_handler_t::replace);
  if (binary_bytes == 0 &&
      std::none_of(request.outputs.begin(), request.outputs.end(), [](const RequestedOutput& r) { return r.binary; })) {
    return result;
  }
  result.header_length = result.body.size();
  result.body.reserve(result.body.size() + binary_bytes);
  for (const RequestedOutput& requested : request.outputs) {
    if (!requested.binary) continue;
    const std::vector<std::byte>& data = outputs[requested.index];
    result.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  return result;
}

std::string error_body(std::string_view message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace kestrel::serve
