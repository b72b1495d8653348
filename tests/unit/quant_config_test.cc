// The quantization config (--quant-config): parsing, per-node settings, glob
// matching, and the errors for every kind of bad file.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "quant/quant_config.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

constexpr const char* kLabel = "quant.json";

// The schema example of docs/quantization.md.
constexpr const char* kFullConfig = R"({
  "defaults": {"precision": "int8", "calibration_method": "entropy", "percentile": 99.99, "weights": "per_channel"},
  "calibration_count": 512,
  "overrides": [
    {"node": "/conv1/Conv", "precision": "fp32"},
    {"op_type": "Gemm", "precision": "fp32"},
    {"glob": "/layer4/*", "calibration_method": "percentile", "percentile": 99.9},
    {"glob": "*downsample*", "weights": "per_tensor"}
  ]
})";

QuantConfig parse_ok(const std::string& json) {
  auto config = parse_quant_config(json, kLabel);
  if (!config.ok()) {
    ADD_FAILURE() << config.status().message();
    return {};
  }
  return std::move(config).value();
}

// The error message for a config that must be refused ("" and a failure if it parses).
std::string parse_error(const std::string& json) {
  auto config = parse_quant_config(json, kLabel);
  if (config.ok()) {
    ADD_FAILURE() << "expected an error for: " << json;
    return "";
  }
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message().rfind(std::string(kLabel) + ": ", 0), 0u)
      << "the file is not named first: " << config.status().message();
  return config.status().message();
}

// An override of `body` (matcher and settings) as the only entry.
std::string with_override(const std::string& body) { return R"({"overrides": [)" + body + "]}"; }

TEST(QuantConfigParse, FullConfig) {
  const QuantConfig config = parse_ok(kFullConfig);
  EXPECT_TRUE(config.defaults.quantize);
  EXPECT_EQ(config.defaults.method, CalibrationMethod::kEntropy);
  EXPECT_DOUBLE_EQ(config.defaults.percentile, 99.99);
  EXPECT_EQ(config.defaults.weights, WeightGranularity::kPerChannel);
  EXPECT_EQ(config.calibration_count, 512);
  ASSERT_EQ(config.overrides.size(), 4u);

  const QuantOverride& conv1 = config.overrides[0];
  EXPECT_EQ(conv1.node, "/conv1/Conv");
  EXPECT_TRUE(conv1.op_type.empty() && conv1.glob.empty());
  EXPECT_EQ(conv1.quantize, false);
  EXPECT_FALSE(conv1.method || conv1.percentile || conv1.weights);

  EXPECT_EQ(config.overrides[1].op_type, "Gemm");
  const QuantOverride& layer4 = config.overrides[2];
  EXPECT_EQ(layer4.glob, "/layer4/*");
  EXPECT_EQ(layer4.method, CalibrationMethod::kPercentile);
  EXPECT_EQ(layer4.percentile, 99.9);
  EXPECT_FALSE(layer4.quantize || layer4.weights);
  EXPECT_EQ(config.overrides[3].weights, WeightGranularity::kPerTensor);
  EXPECT_EQ(layer4.description(), "override 2 (glob \"/layer4/*\")");
  EXPECT_EQ(conv1.description(), "override 0 (node \"/conv1/Conv\")");
}

TEST(QuantConfigParse, EmptyObjectKeepsEveryDefault) {
  const QuantConfig config = parse_ok("{}");
  EXPECT_TRUE(config.defaults.quantize);
  EXPECT_EQ(config.defaults.method, CalibrationMethod::kPercentile);
  EXPECT_DOUBLE_EQ(config.defaults.percentile, kDefaultPercentile);
  EXPECT_EQ(config.defaults.weights, WeightGranularity::kPerChannel);
  EXPECT_EQ(config.calibration_count, 0);
  EXPECT_FALSE(config.bias_correction);
  EXPECT_FALSE(config.cross_layer_equalization);
  EXPECT_TRUE(config.overrides.empty());
}

// The whole-model steps parse, and quant_config_json writes them so that the
// accuracy guard's config reproduces them; false ones are left out.
TEST(QuantConfigParse, WholeModelStepsRoundTrip) {
  const QuantConfig config = parse_ok(R"({"bias_correction": true, "cross_layer_equalization": true})");
  EXPECT_TRUE(config.bias_correction);
  EXPECT_TRUE(config.cross_layer_equalization);
  const QuantConfig again = parse_ok(quant_config_json(config));
  EXPECT_TRUE(again.bias_correction);
  EXPECT_TRUE(again.cross_layer_equalization);
  const QuantConfig off = parse_ok(R"({"bias_correction": false})");
  EXPECT_FALSE(off.bias_correction);
  EXPECT_EQ(quant_config_json(off).find("bias_correction"), std::string::npos);
  EXPECT_NE(parse_error(R"({"cross_layer_equalization": 1})").find("'cross_layer_equalization' must be true or false"),
            std::string::npos);
}

TEST(QuantConfigParse, DefaultsChangeOnlyTheNamedFields) {
  const QuantConfig config = parse_ok(R"({"defaults": {"calibration_method": "mse", "weights": "per_tensor"}})");
  EXPECT_TRUE(config.defaults.quantize);
  EXPECT_EQ(config.defaults.method, CalibrationMethod::kMse);
  EXPECT_DOUBLE_EQ(config.defaults.percentile, kDefaultPercentile);
  EXPECT_EQ(config.defaults.weights, WeightGranularity::kPerTensor);
}

TEST(QuantConfigParse, PercentileMayBeExactlyOneHundredOrAnInteger) {
  EXPECT_DOUBLE_EQ(parse_ok(R"({"defaults": {"percentile": 100}})").defaults.percentile, 100.0);
  EXPECT_DOUBLE_EQ(parse_ok(R"({"defaults": {"percentile": 0.5}})").defaults.percentile, 0.5);
}

// Every ```json block of the quantization config section of the docs parses.
TEST(QuantConfigParse, DocsExamplesParse) {
  const std::string path = source_path("docs/quantization.md");
  KESTREL_REQUIRE_FILE(path);
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  const std::string docs = text.str();
  const size_t section = docs.find("## Quantization config");
  ASSERT_NE(section, std::string::npos) << "docs/quantization.md lost its \"## Quantization config\" section";
  const size_t section_end = docs.find("\n## ", section + 1);
  int examples = 0;
  for (size_t start = docs.find("```json\n", section); start < section_end; start = docs.find("```json\n", start)) {
    start += std::string("```json\n").size();
    const size_t end = docs.find("```", start);
    ASSERT_NE(end, std::string::npos);
    auto config = parse_quant_config(docs.substr(start, end - start), "docs example");
    EXPECT_TRUE(config.ok()) << config.status().message();
    ++examples;
    start = end + 3;
  }
  EXPECT_GE(examples, 3) << "the schema and two complete examples";
}

TEST(QuantConfigSettings, UnmatchedNodeGetsTheDefaults) {
  const QuantConfig config = parse_ok(kFullConfig);
  const LayerQuantSettings settings = settings_for(config, "/layer1/0/conv1/Conv", "Conv");
  EXPECT_TRUE(settings.quantize);
  EXPECT_EQ(settings.method, CalibrationMethod::kEntropy);
  EXPECT_DOUBLE_EQ(settings.percentile, 99.99);
  EXPECT_EQ(settings.weights, WeightGranularity::kPerChannel);
}

TEST(QuantConfigSettings, NodeNameMatchesExactly) {
  const QuantConfig config = parse_ok(kFullConfig);
  EXPECT_FALSE(settings_for(config, "/conv1/Conv", "Conv").quantize);
  EXPECT_TRUE(settings_for(config, "/conv1/Conv_1", "Conv").quantize);
  EXPECT_TRUE(settings_for(config, "/stem/conv1/Conv", "Conv").quantize);
}

TEST(QuantConfigSettings, OpTypeMatchesEveryNodeOfThatType) {
  const QuantConfig config = parse_ok(kFullConfig);
  EXPECT_FALSE(settings_for(config, "/fc/Gemm", "Gemm").quantize);
  EXPECT_FALSE(settings_for(config, "classifier", "Gemm").quantize);
  EXPECT_TRUE(settings_for(config, "classifier", "MatMul").quantize);
  EXPECT_TRUE(settings_for(config, "Gemm", "Conv").quantize) << "op_type must not match the node name";
}

TEST(QuantConfigSettings, GlobMatchesOnTheNodeName) {
  const QuantConfig config = parse_ok(kFullConfig);
  const LayerQuantSettings layer4 = settings_for(config, "/layer4/1/conv2/Conv", "Conv");
  EXPECT_TRUE(layer4.quantize);
  EXPECT_EQ(layer4.method, CalibrationMethod::kPercentile);
  EXPECT_DOUBLE_EQ(layer4.percentile, 99.9);
  EXPECT_EQ(layer4.weights, WeightGranularity::kPerChannel);

  const LayerQuantSettings downsample = settings_for(config, "/layer2/0/downsample/0/Conv", "Conv");
  EXPECT_EQ(downsample.weights, WeightGranularity::kPerTensor);
  EXPECT_EQ(downsample.method, CalibrationMethod::kEntropy);

  // Both globs match: each changes only its own fields.
  const LayerQuantSettings both = settings_for(config, "/layer4/0/downsample/0/Conv", "Conv");
  EXPECT_EQ(both.method, CalibrationMethod::kPercentile);
  EXPECT_EQ(both.weights, WeightGranularity::kPerTensor);
}

TEST(QuantConfigSettings, LaterOverridesWin) {
  const QuantConfig config = parse_ok(R"({"overrides": [
    {"op_type": "Conv", "precision": "fp32", "calibration_method": "minmax"},
    {"glob": "/layer3/*", "precision": "int8"},
    {"node": "/layer3/0/conv1/Conv", "calibration_method": "mse"},
    {"glob": "*", "weights": "per_tensor"}
  ]})");
  const LayerQuantSettings conv = settings_for(config, "/layer1/0/conv1/Conv", "Conv");
  EXPECT_FALSE(conv.quantize);
  EXPECT_EQ(conv.method, CalibrationMethod::kMinMax);

  const LayerQuantSettings layer3 = settings_for(config, "/layer3/1/conv1/Conv", "Conv");
  EXPECT_TRUE(layer3.quantize) << "the glob after the op_type override wins";
  EXPECT_EQ(layer3.method, CalibrationMethod::kMinMax) << "the glob does not name a method";

  const LayerQuantSettings named = settings_for(config, "/layer3/0/conv1/Conv", "Conv");
  EXPECT_TRUE(named.quantize);
  EXPECT_EQ(named.method, CalibrationMethod::kMse);
  EXPECT_EQ(named.weights, WeightGranularity::kPerTensor);

  // Reversed order: the op_type override comes last and wins.
  const QuantConfig reversed = parse_ok(R"({"overrides": [
    {"glob": "/layer3/*", "precision": "int8"},
    {"op_type": "Conv", "precision": "fp32"}
  ]})");
  EXPECT_FALSE(settings_for(reversed, "/layer3/1/conv1/Conv", "Conv").quantize);
}

TEST(QuantConfigGlob, StarMatchesAnyRunIncludingNone) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("/layer4/*", "/layer4/"));
  EXPECT_TRUE(glob_match("/layer4/*", "/layer4/0/conv1/Conv"));
  EXPECT_TRUE(glob_match("*downsample*", "downsample"));
  EXPECT_TRUE(glob_match("*downsample*", "/layer2/0/downsample/0/Conv"));
  EXPECT_TRUE(glob_match("a**b", "ab"));
  EXPECT_TRUE(glob_match("*a*b", "xaxxaxb"));
}

TEST(QuantConfigGlob, QuestionMarkMatchesExactlyOneCharacter) {
  EXPECT_TRUE(glob_match("conv?", "conv1"));
  EXPECT_FALSE(glob_match("conv?", "conv"));
  EXPECT_FALSE(glob_match("conv?", "conv12"));
  EXPECT_TRUE(glob_match("???", "abc"));
  EXPECT_FALSE(glob_match("?", ""));
}

TEST(QuantConfigGlob, NoMatch) {
  EXPECT_FALSE(glob_match("/layer4/*", "/layer3/0/conv1/Conv"));
  EXPECT_FALSE(glob_match("/layer4/*", "x/layer4/0"));
  EXPECT_FALSE(glob_match("*downsample", "/downsample/0"));
  EXPECT_FALSE(glob_match("abc", "abcd"));
  EXPECT_FALSE(glob_match("", "a"));
  EXPECT_TRUE(glob_match("", ""));
  // Regex syntax is literal: '.' is a dot, not "any character".
  EXPECT_FALSE(glob_match("layer4.*", "layer4/conv"));
  EXPECT_TRUE(glob_match("layer4.*", "layer4.conv"));
  EXPECT_FALSE(glob_match("conv[12]", "conv1"));
}

TEST(QuantConfigGlob, StarAndQuestionMarkTogether) {
  EXPECT_TRUE(glob_match("/layer?/*/conv?/*", "/layer3/1/conv2/Conv"));
  EXPECT_FALSE(glob_match("/layer?/*/conv?/*", "/layer10/1/conv2/Conv"));
  EXPECT_TRUE(glob_match("*?", "a"));
  EXPECT_FALSE(glob_match("*?", ""));
  EXPECT_TRUE(glob_match("?*?", "ab"));
  EXPECT_FALSE(glob_match("?*?", "a"));
}

TEST(QuantConfigErrors, InvalidJsonIncludesTheParserMessage) {
  const std::string message = parse_error(R"({"defaults": {"precision": "int8",}})");
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
  EXPECT_NE(message.find("parse error"), std::string::npos) << message;
  EXPECT_NE(parse_error("").find("not valid JSON"), std::string::npos);
}

TEST(QuantConfigErrors, TopLevelMustBeAnObject) {
  EXPECT_NE(parse_error("[]").find("must be a JSON object, not array"), std::string::npos);
}

TEST(QuantConfigErrors, UnknownKeysAnywhere) {
  const std::string top = parse_error(R"({"calibration_cout": 5})");
  EXPECT_NE(top.find("unknown key 'calibration_cout'"), std::string::npos) << top;
  EXPECT_NE(top.find("defaults, calibration_count, bias_correction, cross_layer_equalization, overrides"),
            std::string::npos)
      << top;

  const std::string defaults = parse_error(R"({"defaults": {"percentil": 99}})");
  EXPECT_NE(defaults.find("defaults: unknown key 'percentil'"), std::string::npos) << defaults;

  const std::string entry = parse_error(R"({"overrides": [{"op_type": "Conv", "precision": "fp32"},
                                                          {"glob": "x*", "methd": "mse"}]})");
  EXPECT_NE(entry.find("override 1 (glob \"x*\"): unknown key 'methd'"), std::string::npos) << entry;
}

TEST(QuantConfigErrors, DuplicateKeys) {
  const std::string message = parse_error(with_override(R"({"node": "a", "precision": "fp32", "precision": "int8"})"));
  EXPECT_NE(message.find("'precision' appears twice"), std::string::npos) << message;
}

TEST(QuantConfigErrors, WrongJsonTypes) {
  EXPECT_NE(parse_error(R"({"defaults": []})").find("defaults: must be an object, not array"), std::string::npos);
  EXPECT_NE(parse_error(R"({"defaults": {"precision": 8}})").find("'precision' must be a string, not number"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"defaults": {"calibration_method": null}})")
                .find("'calibration_method' must be a string, not null"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"defaults": {"percentile": "99.9"}})").find("'percentile' must be a number, not string"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"defaults": {"weights": true}})").find("'weights' must be a string, not boolean"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"overrides": {"node": "a"}})").find("'overrides' must be a list, not object"),
            std::string::npos);
  EXPECT_NE(parse_error(with_override(R"("conv1")")).find("override 0: must be an object, not string"),
            std::string::npos);
  EXPECT_NE(parse_error(with_override(R"({"node": 3, "precision": "fp32"})"))
                .find("override 0: 'node' must be a string, not number"),
            std::string::npos);
  EXPECT_NE(
      parse_error(with_override(R"({"glob": "", "precision": "fp32"})")).find("override 0: 'glob' must not be empty"),
      std::string::npos);
}

TEST(QuantConfigErrors, CalibrationCountMustBeAPositiveInteger) {
  for (const char* bad : {"0", "-3", "1.5", "\"512\"", "18446744073709551615"}) {
    const std::string message = parse_error(std::string(R"({"calibration_count": )") + bad + "}");
    EXPECT_NE(message.find("'calibration_count' must be a positive integer, not " + std::string(bad)),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(parse_ok(R"({"calibration_count": 1})").calibration_count, 1);
}

TEST(QuantConfigErrors, BadEnumValuesListTheAllowedOnes) {
  const std::string precision = parse_error(R"({"defaults": {"precision": "int4"}})");
  EXPECT_NE(precision.find("'precision' is 'int4' (allowed: int8, fp32)"), std::string::npos) << precision;

  const std::string method = parse_error(with_override(R"({"op_type": "Conv", "calibration_method": "kl"})"));
  EXPECT_NE(method.find("override 0 (op_type \"Conv\"): 'calibration_method'"), std::string::npos) << method;
  EXPECT_NE(method.find("'kl'"), std::string::npos) << method;
  EXPECT_NE(method.find("minmax, percentile, entropy, mse"), std::string::npos) << method;

  const std::string weights = parse_error(R"({"defaults": {"weights": "per_row"}})");
  EXPECT_NE(weights.find("'weights' is 'per_row' (allowed: per_channel, per_tensor)"), std::string::npos) << weights;
}

TEST(QuantConfigErrors, PercentileOutOfRange) {
  for (const char* bad : {"0", "-1", "100.5", "1e300"}) {
    const std::string message = parse_error(std::string(R"({"defaults": {"percentile": )") + bad + "}}");
    EXPECT_NE(message.find("defaults: 'percentile' is "), std::string::npos) << message;
    EXPECT_NE(message.find("must be in (0, 100]"), std::string::npos) << message;
  }
  const std::string entry = parse_error(with_override(R"({"node": "a", "percentile": 0})"));
  EXPECT_NE(entry.find("override 0 (node \"a\"): 'percentile' is 0"), std::string::npos) << entry;
}

TEST(QuantConfigErrors, OverrideNeedsExactlyOneMatcher) {
  const std::string none = parse_error(with_override(R"({"precision": "fp32"})"));
  EXPECT_NE(none.find("override 0: has no matcher; it needs exactly one of node, op_type, glob"), std::string::npos)
      << none;

  const std::string two = parse_error(with_override(R"({"node": "/fc/Gemm", "op_type": "Gemm", "precision": "fp32"})"));
  EXPECT_NE(two.find("override 0 (node \"/fc/Gemm\", op_type \"Gemm\"): has 2 matchers"), std::string::npos) << two;
}

TEST(QuantConfigErrors, OverrideMustSetSomething) {
  const std::string message = parse_error(R"({"overrides": [{"node": "a", "precision": "fp32"}, {"glob": "*fc*"}]})");
  EXPECT_NE(message.find("override 1 (glob \"*fc*\"): sets nothing"), std::string::npos) << message;
  EXPECT_NE(message.find("precision, calibration_method, percentile, weights"), std::string::npos) << message;
}

const std::vector<std::pair<std::string, std::string>> kResnetNodes = {
    {"/conv1/Conv", "Conv"},
    {"/layer1/0/conv1/Conv", "Conv"},
    {"/layer2/0/downsample/0/Conv", "Conv"},
    {"/layer4/1/conv2/Conv", "Conv"},
    {"/fc/Gemm", "Gemm"},
};

TEST(QuantConfigCheck, EveryOverrideMatchesANode) {
  const Status status = check_overrides_match(parse_ok(kFullConfig), kResnetNodes);
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(check_overrides_match(parse_ok("{}"), {}).ok());
}

TEST(QuantConfigCheck, UnmatchedNodeOverrideNamesTheClosestNodes) {
  const QuantConfig config = parse_ok(R"({"overrides": [{"op_type": "Conv", "precision": "int8"},
                                                        {"node": "/conv1/conv", "precision": "fp32"}]})");
  const Status status = check_overrides_match(config, kResnetNodes);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("override 1 (node \"/conv1/conv\") matches no node"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("closest node names: \"/conv1/Conv\""), std::string::npos) << status.message();
}

TEST(QuantConfigCheck, UnmatchedOpTypeAndGlobOverridesAreNamed) {
  const Status op_type =
      check_overrides_match(parse_ok(with_override(R"({"op_type": "Gem", "precision": "fp32"})")), kResnetNodes);
  ASSERT_FALSE(op_type.ok());
  EXPECT_NE(op_type.message().find("override 0 (op_type \"Gem\") matches no node"), std::string::npos)
      << op_type.message();
  EXPECT_NE(op_type.message().find("\"Gemm\""), std::string::npos) << op_type.message();

  // A regex-style pattern is the typical mistake: '.' is literal in a glob.
  const Status glob =
      check_overrides_match(parse_ok(with_override(R"({"glob": "layer4.*", "weights": "per_tensor"})")), kResnetNodes);
  ASSERT_FALSE(glob.ok());
  EXPECT_NE(glob.message().find("override 0 (glob \"layer4.*\") matches no node"), std::string::npos) << glob.message();

  const Status empty_model = check_overrides_match(parse_ok(kFullConfig), {});
  ASSERT_FALSE(empty_model.ok());
  EXPECT_NE(empty_model.message().find("override 0 (node \"/conv1/Conv\")"), std::string::npos)
      << empty_model.message();
}

TEST(QuantConfigFile, MissingFileNamesThePath) {
  const std::string path = scratch_dir() + "/no_such_quant.json";
  auto config = read_quant_config(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_NE(config.status().message().find(path), std::string::npos) << config.status().message();
}

TEST(QuantConfigFile, ReadsAFileAndLabelsErrorsWithItsPath) {
  const std::string dir = scratch_dir();
  const std::string good = dir + "/quant.json";
  std::ofstream(good) << kFullConfig;
  auto config = read_quant_config(good);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->overrides.size(), 4u);
  EXPECT_EQ(config->calibration_count, 512);

  const std::string bad = dir + "/bad.json";
  std::ofstream(bad) << R"({"defaults": {"precision": "int16"}})";
  auto error = read_quant_config(bad);
  ASSERT_FALSE(error.ok());
  EXPECT_EQ(error.status().message().rfind(bad + ": defaults: 'precision'", 0), 0u) << error.status().message();

  auto directory = read_quant_config(dir);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find(dir), std::string::npos) << directory.status().message();
}

}  // namespace
}  // namespace kestrel::testing
