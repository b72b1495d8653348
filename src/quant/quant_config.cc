#include "quant/quant_config.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace kestrel {
namespace {

using Json = nlohmann::json;

template <typename T>
struct Choice {
  const char* name;
  T value;
};

const std::vector<std::string> kTopLevelKeys = {"defaults", "calibration_count", "bias_correction",
                                                "cross_layer_equalization", "overrides"};
const std::vector<std::string> kSettingKeys = {"precision", "calibration_method", "percentile", "weights"};
const std::vector<std::string> kOverrideKeys = {"node",       "op_type", "glob", "precision", "calibration_method",
                                                "percentile", "weights"};
const std::vector<Choice<bool>> kPrecisions = {{"int8", true}, {"fp32", false}};
const std::vector<Choice<WeightGranularity>> kGranularities = {{"per_channel", WeightGranularity::kPerChannel},
                                                               {"per_tensor", WeightGranularity::kPerTensor}};

// Percentiles are of |x|, so 100 (the largest |x|) is the top of the range.
constexpr double kMaxPercentile = 100.0;
// Enough near misses to spot a typo without flooding the terminal.
constexpr size_t kMaxSuggestions = 3;

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += str_cat(out.empty() ? "" : ", ", name);
  return out;
}

Status check_keys(const Json& object, const std::vector<std::string>& allowed, const std::string& where) {
  for (const auto& item : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      return invalid_argument(where, ": unknown key '", item.key(), "' (allowed: ", joined(allowed), ")");
    }
  }
  return {};
}

Status wrong_type(const std::string& where, const std::string& key, const char* expected, const Json& value) {
  return invalid_argument(where, ": '", key, "' must be ", expected, ", not ", value.type_name());
}

template <typename T>
StatusOr<T> read_choice(const Json& value, const std::string& key, const std::vector<Choice<T>>& choices,
                        const std::string& where) {
  if (!value.is_string()) return wrong_type(where, key, "a string", value);
  std::vector<std::string> names;
  for (const Choice<T>& choice : choices) {
    if (value.get<std::string>() == choice.name) return choice.value;
    names.emplace_back(choice.name);
  }
  return invalid_argument(where, ": '", key, "' is '", value.get<std::string>(), "' (allowed: ", joined(names), ")");
}

StatusOr<double> read_percentile(const Json& value, const std::string& where) {
  if (!value.is_number()) return wrong_type(where, "percentile", "a number", value);
  const double percentile = value.get<double>();
  if (!(percentile > 0.0 && percentile <= kMaxPercentile)) {
    return invalid_argument(where, ": 'percentile' is ", percentile, "; it must be in (0, ", kMaxPercentile, "]");
  }
  return percentile;
}

// Reads the setting keys present in `object` into the optional fields of
// `settings`; returns how many were present.
StatusOr<int> read_settings(const Json& object, const std::string& where, QuantOverride& settings) {
  int count = 0;
  if (object.contains("precision")) {
    KESTREL_ASSIGN_OR_RETURN(settings.quantize, read_choice(object["precision"], "precision", kPrecisions, where));
    ++count;
  }
  if (object.contains("calibration_method")) {
    const Json& value = object["calibration_method"];
    if (!value.is_string()) return wrong_type(where, "calibration_method", "a string", value);
    auto method = parse_calibration_method(value.get<std::string>());
    if (!method.ok()) return method.status().with_context(str_cat(where, ": 'calibration_method'"));
    settings.method = method.value();
    ++count;
  }
  if (object.contains("percentile")) {
    KESTREL_ASSIGN_OR_RETURN(settings.percentile, read_percentile(object["percentile"], where));
    ++count;
  }
  if (object.contains("weights")) {
    KESTREL_ASSIGN_OR_RETURN(settings.weights, read_choice(object["weights"], "weights", kGranularities, where));
    ++count;
  }
  return count;
}

void apply(const QuantOverride& settings, LayerQuantSettings& layer) {
  if (settings.quantize) layer.quantize = *settings.quantize;
  if (settings.method) layer.method = *settings.method;
  if (settings.percentile) layer.percentile = *settings.percentile;
  if (settings.weights) layer.weights = *settings.weights;
}

Status read_defaults(const Json& json, const std::string& label, QuantConfig& config) {
  const std::string where = str_cat(label, ": defaults");
  if (!json.is_object()) return invalid_argument(where, ": must be an object, not ", json.type_name());
  KESTREL_RETURN_IF_ERROR(check_keys(json, kSettingKeys, where));
  QuantOverride settings;
  // Unlike an override, an empty "defaults" object is harmless: it changes nothing.
  const StatusOr<int> count = read_settings(json, where, settings);
  if (!count.ok()) return count.status();
  apply(settings, config.defaults);
  return {};
}

// The matcher fields of a (const or mutable) override with their JSON keys.
template <typename Override>
auto matcher_fields(Override& entry) {
  return std::array{std::pair{"node", &entry.node}, std::pair{"op_type", &entry.op_type},
                    std::pair{"glob", &entry.glob}};
}

// Fills whichever of node / op_type / glob are present, so that later
// messages can name the override by its matcher.
Status read_matchers(const Json& json, const std::string& label, QuantOverride& entry) {
  for (auto [key, field] : matcher_fields(entry)) {
    if (!json.contains(key)) continue;
    const std::string where = str_cat(label, ": override ", entry.index);
    const Json& value = json[key];
    if (!value.is_string()) return wrong_type(where, key, "a string", value);
    if (value.get<std::string>().empty()) return invalid_argument(where, ": '", key, "' must not be empty");
    *field = value.get<std::string>();
  }
  return {};
}

Status check_one_matcher(const QuantOverride& entry, const std::string& where) {
  const int count = !entry.node.empty() + !entry.op_type.empty() + !entry.glob.empty();
  if (count == 1) return {};
  if (count == 0) return invalid_argument(where, ": has no matcher; it needs exactly one of node, op_type, glob");
  return invalid_argument(where, ": has ", count, " matchers; it needs exactly one of node, op_type, glob");
}

StatusOr<QuantOverride> read_override(const Json& json, size_t index, const std::string& label) {
  QuantOverride entry;
  entry.index = index;
  if (!json.is_object()) {
    return invalid_argument(label, ": ", entry.description(), ": must be an object, not ", json.type_name());
  }
  KESTREL_RETURN_IF_ERROR(read_matchers(json, label, entry));
  const std::string where = str_cat(label, ": ", entry.description());
  KESTREL_RETURN_IF_ERROR(check_keys(json, kOverrideKeys, where));
  KESTREL_RETURN_IF_ERROR(check_one_matcher(entry, where));
  KESTREL_ASSIGN_OR_RETURN(const int count, read_settings(json, where, entry));
  if (count == 0) {
    return invalid_argument(where, ": sets nothing; it needs at least one of ", joined(kSettingKeys));
  }
  return entry;
}

Status read_overrides(const Json& json, const std::string& label, QuantConfig& config) {
  if (!json.is_array()) return wrong_type(label, "overrides", "a list", json);
  for (size_t i = 0; i < json.size(); ++i) {
    KESTREL_ASSIGN_OR_RETURN(QuantOverride entry, read_override(json[i], i, label));
    config.overrides.push_back(std::move(entry));
  }
  return {};
}

Status read_calibration_count(const Json& json, const std::string& label, QuantConfig& config) {
  const bool fits = json.is_number_unsigned()
                        ? json.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                        : json.is_number_integer();
  if (!fits || json.get<int64_t>() <= 0) {
    return invalid_argument(label, ": 'calibration_count' must be a positive integer, not ", json.dump());
  }
  config.calibration_count = json.get<int64_t>();
  return {};
}

Status read_flag(const Json& json, const char* key, const std::string& label, bool& flag) {
  if (!json.is_boolean()) return invalid_argument(label, ": '", key, "' must be true or false, not ", json.dump());
  flag = json.get<bool>();
  return {};
}

// nlohmann::json keeps the last of repeated keys; a config where one of two
// "precision" keys silently loses is exactly what the schema must not allow.
StatusOr<Json> parse_json(const std::string& text, const std::string& label) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto find_duplicates = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end) open_objects.pop_back();
    if (event == Json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  Json json;
  try {
    json = Json::parse(text, find_duplicates);
  } catch (const std::exception& error) {
    return invalid_argument(label, ": not valid JSON: ", error.what());
  }
  if (!duplicate.empty()) return invalid_argument(label, ": key '", duplicate, "' appears twice in one object");
  return json;
}

bool matches(const QuantOverride& entry, const std::string& node_name, const std::string& op_type) {
  if (entry.node.empty() && entry.op_type.empty() && entry.glob.empty()) return false;
  return (entry.node.empty() || entry.node == node_name) && (entry.op_type.empty() || entry.op_type == op_type) &&
         (entry.glob.empty() || glob_match(entry.glob, node_name));
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// The few candidates nearest to `target`, quoted, nearest first.
std::string closest(const std::string& target, const std::set<std::string>& candidates) {
  std::vector<std::pair<size_t, std::string>> ranked;
  ranked.reserve(candidates.size());
  for (const std::string& candidate : candidates) ranked.emplace_back(edit_distance(target, candidate), candidate);
  const size_t shown = std::min(kMaxSuggestions, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(shown), ranked.end());
  std::string out;
  for (size_t i = 0; i < shown; ++i) out += str_cat(i ? ", " : "", "\"", ranked[i].second, "\"");
  return out;
}

std::string unmatched_hint(const QuantOverride& entry, const std::vector<std::pair<std::string, std::string>>& nodes) {
  if (nodes.empty()) return " (the model has no nodes)";
  std::set<std::string> names, op_types;
  for (const auto& [name, op_type] : nodes) {
    names.insert(name);
    op_types.insert(op_type);
  }
  if (!entry.node.empty()) return str_cat("; closest node names: ", closest(entry.node, names));
  if (!entry.op_type.empty()) return str_cat("; closest op types in the model: ", closest(entry.op_type, op_types));
  return str_cat("; a glob must match the whole node name (only '*' and '?' are wildcards), and names look like \"",
                 nodes.front().first, "\"");
}

}  // namespace

std::string QuantOverride::description() const {
  std::string matchers;
  for (auto [key, value] : matcher_fields(*this)) {
    if (!value->empty()) matchers += str_cat(matchers.empty() ? "" : ", ", key, " \"", *value, "\"");
  }
  if (matchers.empty()) return str_cat("override ", index);
  return str_cat("override ", index, " (", matchers, ")");
}

StatusOr<QuantConfig> parse_quant_config(const std::string& json_text, const std::string& label) {
  KESTREL_ASSIGN_OR_RETURN(const Json json, parse_json(json_text, label));
  if (!json.is_object()) return invalid_argument(label, ": must be a JSON object, not ", json.type_name());
  KESTREL_RETURN_IF_ERROR(check_keys(json, kTopLevelKeys, label));
  QuantConfig config;
  if (json.contains("defaults")) KESTREL_RETURN_IF_ERROR(read_defaults(json["defaults"], label, config));
  if (json.contains("calibration_count")) {
    KESTREL_RETURN_IF_ERROR(read_calibration_count(json["calibration_count"], label, config));
  }
  if (json.contains("bias_correction")) {
    KESTREL_RETURN_IF_ERROR(read_flag(json["bias_correction"], "bias_correction", label, config.bias_correction));
  }
  if (json.contains("cross_layer_equalization")) {
    KESTREL_RETURN_IF_ERROR(read_flag(json["cross_layer_equalization"], "cross_layer_equalization", label,
                                      config.cross_layer_equalization));
  }
  if (json.contains("overrides")) KESTREL_RETURN_IF_ERROR(read_overrides(json["overrides"], label, config));
  return config;
}

StatusOr<QuantConfig> read_quant_config(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return invalid_argument(path, ": is a directory, not a quantization config file");
  }
  std::ifstream file(path);
  if (!file) return not_found(path, ": cannot open quantization config file");
  std::stringstream text;
  text << file.rdbuf();
  return parse_quant_config(text.str(), path);
}

namespace {

template <typename T>
std::string choice_name(const std::vector<Choice<T>>& choices, T value) {
  for (const auto& choice : choices) {
    if (choice.value == value) return choice.name;
  }
  return "";
}

}  // namespace

std::string quant_config_json(const QuantConfig& config) {
  Json defaults = {{"precision", choice_name(kPrecisions, config.defaults.quantize)},
                   {"calibration_method", std::string(calibration_method_name(config.defaults.method))},
                   {"weights", choice_name(kGranularities, config.defaults.weights)}};
  if (config.defaults.method == CalibrationMethod::kPercentile) defaults["percentile"] = config.defaults.percentile;
  Json overrides = Json::array();
  for (const QuantOverride& entry : config.overrides) {
    Json item = Json::object();
    for (const auto& [key, field] : matcher_fields(entry)) {
      if (!field->empty()) item[key] = *field;
    }
    if (entry.quantize) item["precision"] = choice_name(kPrecisions, *entry.quantize);
    if (entry.method) item["calibration_method"] = std::string(calibration_method_name(*entry.method));
    if (entry.percentile) item["percentile"] = *entry.percentile;
    if (entry.weights) item["weights"] = choice_name(kGranularities, *entry.weights);
    overrides.push_back(std::move(item));
  }
  Json json = {{"defaults", defaults}, {"overrides", overrides}};
  if (config.calibration_count > 0) json["calibration_count"] = config.calibration_count;
  if (config.bias_correction) json["bias_correction"] = true;
  if (config.cross_layer_equalization) json["cross_layer_equalization"] = true;
  return json.dump(2) + "\n";
}

LayerQuantSettings settings_for(const QuantConfig& config, const std::string& node_name, const std::string& op_type) {
  LayerQuantSettings settings = config.defaults;
  for (const QuantOverride& entry : config.overrides) {
    if (matches(entry, node_name, op_type)) apply(entry, settings);
  }
  return settings;
}

Status check_overrides_match(const QuantConfig& config, const std::vector<std::pair<std::string, std::string>>& nodes) {
  for (const QuantOverride& entry : config.overrides) {
    const bool used = std::any_of(nodes.begin(), nodes.end(),
                                  [&](const auto& node) { return matches(entry, node.first, node.second); });
    if (!used) {
      return invalid_argument("quantization config ", entry.description(), " matches no node in the model",
                              unmatched_hint(entry, nodes));
    }
  }
  return {};
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Greedy matching with one backtrack point: on a mismatch, the last '*'
  // absorbs one more character. Linear in practice, O(|pattern|·|text|) at worst.
  constexpr size_t kNoStar = std::string_view::npos;
  size_t p = 0, t = 0, star = kNoStar, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (star != kNoStar) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace kestrel
