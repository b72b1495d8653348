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
// IR versions the importer reads: 3 is the first with opset imports, 11 the
// newest ONNX release's (ONNX 1.18); a newer file may use what this reader
// cannot see, so it is refused rather than misread.
inline constexpr int64_t kMinOnnxIrVersion = 3;
inline constexpr int64_t kMaxOnnxIrVersion = 11;

StatusOr<Graph> import_onnx_file(const std::string& path);
// `base_dir` resolves external data; `label` names the model in errors.
StatusOr<Graph> import_onnx_bytes(const std::string& bytes, const std::string& base_dir, const std::string& label);

}  // namespace kestrel
