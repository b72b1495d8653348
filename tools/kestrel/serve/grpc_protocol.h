// The Open Inference Protocol's gRPC infer messages (grpc_predict_v2.proto)
// to and from the server's parsed request, with the same checks as the REST
// side (InputChecker). No gRPC here, only the protobuf messages.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "grpc_predict_v2.pb.h"
#include "serve/protocol.h"

namespace kestrel::serve {

// Checks a ModelInferRequest against the model: tensors in
// raw_input_contents (one entry per input, in the order of `inputs`) or in
// each input's typed `contents`. Errors are kInvalidArgument and name the
// tensor and the reason.
StatusOr<ParsedInferRequest> parse_grpc_infer_request(const inference::ModelInferRequest& request,
                                                      const ModelSignature& signature);

// The requested outputs (`outputs[i]` holds model output i for the
// request's rows) as raw_output_contents, one entry per output tensor.
void encode_grpc_infer_response(const std::string& model_name, const std::string& model_version,
                                const ModelSignature& signature, const ParsedInferRequest& request,
                                std::span<const std::vector<std::byte>> outputs,
                                inference::ModelInferResponse& response);

}  // namespace kestrel::serve
