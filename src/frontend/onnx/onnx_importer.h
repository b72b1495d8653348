// ONNX -> Graph. Parses with the ONNX protobuf definitions, validates with
// ONNX's checker, and reports every problem with the file and node named.
#pragma once

#include <string>

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

// Lowest and highest default-domain opsets the importer accepts.
inline constexpr int64_t kMinOnnxOpset = 11;
inline constexpr int64_t kMaxOnnxOpset = 17;

StatusOr<Graph> import_onnx_file(const std::string& path);
// `base_dir` resolves external data; `label` names the model in errors.
StatusOr<Graph> import_onnx_bytes(const std::string& bytes, const std::string& base_dir, const std::string& label);

}  // namespace kestrel
