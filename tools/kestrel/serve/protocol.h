// The KServe v2 / Open Inference Protocol's inference messages: an infer
// request (JSON tensors, or the binary tensor data extension) checked against
// what a model expects, and the response. No HTTP here: the HTTP layer hands
// over the body and the Inference-Header-Content-Length header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <kestrel/kestrel.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kestrel::serve {

// A model input or output as the server sees it.
struct TensorSpec {
  std::string name;
  api::DType dtype = api::DType::kUndefined;
  std::vector<int64_t> shape;  // as compiled; dim 0 is the batch when max_batch > 0
  size_t row_bytes = 0;        // bytes of one batch row (max_batch > 0) or of the whole tensor
};

struct ModelSignature {
  std::vector<TensorSpec> inputs, outputs;
  // > 0: dim 0 of every input and output is the batch, any of 1..max_batch per
  // run; 0: the model runs at its compiled shapes only.
  int64_t max_batch = 0;
};

// The protocol's datatype name ("FP32", "UINT8", ...) and back.
std::string datatype_name(api::DType dtype);
std::optional<api::DType> parse_datatype(std::string_view name);

// The shape a client sees: the batch dim as -1 for models with a max batch.
std::vector<int64_t> protocol_shape(const ModelSignature& signature, const TensorSpec& spec);
// The shape of a tensor of `rows` batch rows.
std::vector<int64_t> shape_with_rows(const ModelSignature& signature, const TensorSpec& spec, int64_t rows);

struct RequestedOutput {
  size_t index = 0;  // into ModelSignature::outputs
  bool binary = false;
};

struct ParsedInferRequest {
  std::optional<std::string> id;
  int64_t rows = 1;                            // dim 0 shared by every input (the compiled one for fixed models)
  std::vector<std::vector<std::byte>> inputs;  // in the model's input order, row-major
  std::vector<RequestedOutput> outputs;        // in the order to answer them
};

// The checks every front end (REST JSON, gRPC) makes on a request's inputs,
// one input at a time: a known name given once, the model's datatype, a shape
// that fits and a batch shared by all. Collects them in the model's order.
class InputChecker {
 public:
  InputChecker(const ModelSignature& signature, ParsedInferRequest& parsed);

  // The index of input `name` (into ModelSignature::inputs), first seen now.
  StatusOr<size_t> find(const std::string& name);
  // Checks input `index`'s datatype and shape; returns its buffer, sized to
  // the bytes that shape holds, for the caller to fill.
  StatusOr<std::vector<std::byte>*> accept(size_t index, std::string_view datatype, std::span<const int64_t> shape);
  // Every input was given: sets the request's rows.
  Status finish();
  static std::string what(const TensorSpec& spec) { return "input '" + spec.name + "'"; }

 private:
  const ModelSignature& signature_;
  ParsedInferRequest& parsed_;
  std::vector<bool> seen_;
  std::optional<int64_t> rows_;
};

// The index of output `name` (into ModelSignature::outputs).
StatusOr<size_t> find_output(const ModelSignature& signature, std::string_view name);
// "[1,3,224,224]"
std::string shape_text(std::span<const int64_t> shape);

// Parses and checks an infer request body. `header_length`: the value of
// Inference-Header-Content-Length when present (the JSON part's length; the
// rest of the body is binary tensor data). Errors are kInvalidArgument (HTTP
// 400) and name the tensor and the reason.
StatusOr<ParsedInferRequest> parse_infer_request(std::string_view body, std::optional<std::string_view> header_length,
                                                 const ModelSignature& signature);

struct InferResponse {
  std::string body;
  std::optional<size_t> header_length;  // set when binary outputs follow the JSON header
};

// `outputs[i]` holds model output i for this request's rows.
InferResponse encode_infer_response(const std::string& model_name, const std::string& model_version,
                                    const ModelSignature& signature, const ParsedInferRequest& request,
                                    std::span<const std::vector<std::byte>> outputs);

// {"error": message}
std::string error_body(std::string_view message);

}  // namespace kestrel::serve
