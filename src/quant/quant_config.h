// The quantization config (`kestrel convert --quant-config quant.json`):
// default per-layer settings plus overrides that pick nodes by exact name, by
// op type or by a glob on the name. The schema is in docs/quantization.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "quant/calibration_methods.h"

namespace kestrel {

enum class WeightGranularity { kPerChannel, kPerTensor };

// What the quantizer does with one node (a Conv/Gemm-like layer).
struct LayerQuantSettings {
  bool quantize = true;                                       // false: the node stays FP32
  CalibrationMethod method = CalibrationMethod::kPercentile;  // for the activations this node reads and writes
  double percentile = kDefaultPercentile;                     // used when method == kPercentile
  WeightGranularity weights = WeightGranularity::kPerChannel;
};

struct QuantOverride {
  // Exactly one matcher is set: a node name (exact), an op type (exact, e.g.
  // "Conv"), or a glob on the node name ("layer4.*", "*downsample*"; '*' and
  // '?' only).
  std::string node, op_type, glob;
  // Only the fields the override names change the settings.
  std::optional<bool> quantize;
  std::optional<CalibrationMethod> method;
  std::optional<double> percentile;
  std::optional<WeightGranularity> weights;
  // Position in the file's "overrides" list (0-based, as in overrides[2]);
  // only for messages.
  size_t index = 0;

  // "override 2 (glob \"layer4.*\")", used in errors.
  std::string description() const;
};

struct QuantConfig {
  LayerQuantSettings defaults;
  std::vector<QuantOverride> overrides;  // applied in file order; later ones win
  int64_t calibration_count = 0;         // 0: not set in the file (the CLI flag or its default decides)
  // Whole-model steps (quant/bias_correction.h, quant/equalization.h); the
  // CLI flags --bias-correction and --cross-layer-equalization set them too.
  bool bias_correction = false;
  bool cross_layer_equalization = false;
};

// Parses the JSON text; `label` (the file path) prefixes every error.
StatusOr<QuantConfig> parse_quant_config(const std::string& json_text, const std::string& label);
StatusOr<QuantConfig> read_quant_config(const std::string& path);

// The config as JSON text in the schema parse_quant_config reads (every
// default written out, overrides in order): parsing it gives `config` back.
std::string quant_config_json(const QuantConfig& config);

// Settings for one node: the defaults, then every matching override in order.
// `op_type` is the node's original ONNX op type (fused nodes report the op
// they grew from, e.g. "Conv").
LayerQuantSettings settings_for(const QuantConfig& config, const std::string& node_name, const std::string& op_type);

// Every override must match at least one of the given (name, op_type) nodes:
// an override that matches nothing is almost always a typo or a node renamed
// by an exporter, and would otherwise silently do nothing. The error names
// the override and the closest node names (or op types) in the model.
Status check_overrides_match(const QuantConfig& config, const std::vector<std::pair<std::string, std::string>>& nodes);

// Whole-string match of `text` against `pattern`, where '*' matches any run
// of characters (also none) and '?' exactly one; every other character
// matches itself. Works on bytes.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace kestrel
