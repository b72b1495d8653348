// libFuzzer target for the quantization config (docs/quantization.md):
// JSON text -> parse_quant_config -> settings_for and check_overrides_match
// on a few ResNet-like node names -> glob_match of every override's glob.
// Seeds: the JSON examples in docs/quantization.md and tests' configs
// (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "quant/quant_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kestrel;
  static const std::vector<std::pair<std::string, std::string>> nodes = {{"conv1", "Conv"},
                                                                         {"layer4.0.downsample.0", "Conv"},
                                                                         {"fc", "Gemm"},
                                                                         {"/features/features.0/Conv", "Conv"},
                                                                         {"", "MatMul"}};
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = parse_quant_config(text, "fuzz.json");
  if (!config.ok()) return 0;
  for (const auto& [name, op_type] : nodes) (void)settings_for(*config, name, op_type);
  (void)check_overrides_match(*config, nodes);
  for (const QuantOverride& override_entry : config->overrides) {
    (void)override_entry.description();
    if (!override_entry.glob.empty()) {
      (void)glob_match(override_entry.glob, text);
      (void)glob_match(override_entry.glob, override_entry.glob);
    }
  }
  return 0;
}
