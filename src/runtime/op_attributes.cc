// One line per op: its attributes as "name:kind" (i int, f float, s string,
// is ints, fs floats, ss strings, t tensor). ONNX ops list every attribute
// of their schemas in opsets 11 to 17 (the importer's range; the ONNX
// checker refuses any other at import, and a test compares this table with
// ONNX's schemas); Kestrel's fused ops add the passes' own.
#include "runtime/op_attributes.h"

#include <sstream>
#include <unordered_map>

#include "kernels/op_registry.h"

namespace kestrel {
namespace {

#define KESTREL_CONV_ATTRS "auto_pad:s dilations:is group:i kernel_shape:is pads:is strides:is "
#define KESTREL_FUSED_ATTRS "activation:s activation_alpha:f activation_beta:f fused_nodes:ss "
#define KESTREL_PACKED_ATTRS "packed_weights:t packed_weights_layout:s "
#define KESTREL_REDUCE_ATTRS "axes:is keepdims:i"

struct OpEntry {
  const char* op_type;
  const char* attributes;
};

constexpr OpEntry kOps[] = {
    {"Abs", ""},
    {"Add", ""},
    {"Ceil", ""},
    {"Div", ""},
    {"Equal", ""},
    {"Erf", ""},
    {"Exp", ""},
    {"Expand", ""},
    {"Floor", ""},
    {"GlobalAveragePool", ""},
    {"GlobalMaxPool", ""},
    {"HardSwish", ""},
    {"Identity", ""},
    {"Log", ""},
    {"MatMul", ""},
    {"Max", ""},
    {"Min", ""},
    {"Mul", ""},
    {"Neg", ""},
    {"PRelu", ""},
    {"Pow", ""},
    {"Range", ""},
    {"Reciprocal", ""},
    {"Relu", ""},
    {"Sigmoid", ""},
    {"Slice", ""},
    {"Sqrt", ""},
    {"Sub", ""},
    {"Sum", ""},
    {"Tanh", ""},
    {"Tile", ""},
    {"Where", ""},
    {"Clip", ""},
    {"AveragePool", "auto_pad:s ceil_mode:i count_include_pad:i kernel_shape:is pads:is strides:is"},
    {"BatchNormalization", "epsilon:f momentum:f training_mode:i"},
    {"LayerNormalization", "axis:i epsilon:f stash_type:i"},
    {"Cast", "to:i"},
    {"Concat", "axis:i"},
    {"Constant",
     "sparse_value:t value:t value_float:f value_floats:fs value_int:i value_ints:is value_string:s "
     "value_strings:ss"},
    {"ConstantOfShape", "value:t"},
    {"Conv", KESTREL_CONV_ATTRS KESTREL_PACKED_ATTRS},
    {"DepthToSpace", "blocksize:i mode:s"},
    {"DequantizeLinear", "axis:i"},
    {"Dropout", "ratio:f seed:i"},
    {"Flatten", "axis:i"},
    {"Gather", "axis:i"},
    {"Gemm", "alpha:f beta:f transA:i transB:i"},
    {"HardSigmoid", "alpha:f beta:f"},
    {"LeakyRelu", "alpha:f"},
    {"LogSoftmax", "axis:i"},
    {"MaxPool", "auto_pad:s ceil_mode:i dilations:is kernel_shape:is pads:is storage_order:i strides:is"},
    {"Pad", "mode:s"},
    {"QuantizeLinear", "axis:i"},
    {"ReduceL1", KESTREL_REDUCE_ATTRS},
    {"ReduceL2", KESTREL_REDUCE_ATTRS},
    {"ReduceLogSum", KESTREL_REDUCE_ATTRS},
    {"ReduceLogSumExp", KESTREL_REDUCE_ATTRS},
    {"ReduceMax", KESTREL_REDUCE_ATTRS},
    {"ReduceMean", KESTREL_REDUCE_ATTRS},
    {"ReduceMin", KESTREL_REDUCE_ATTRS},
    {"ReduceProd", KESTREL_REDUCE_ATTRS},
    {"ReduceSum", KESTREL_REDUCE_ATTRS " noop_with_empty_axes:i"},
    {"ReduceSumSquare", KESTREL_REDUCE_ATTRS},
    {"Reshape", "allowzero:i"},
    {"Resize",
     "coordinate_transformation_mode:s cubic_coeff_a:f exclude_outside:i extrapolation_value:f mode:s "
     "nearest_mode:s"},
    {"Shape", "end:i start:i"},
    {"Softmax", "axis:i"},
    {"SpaceToDepth", "blocksize:i"},
    {"Split", "axis:i split:is"},
    {"Squeeze", "axes:is"},
    {"Transpose", "perm:is"},
    {"Unsqueeze", "axes:is"},
    // Kestrel's own ops (domain "kestrel").
    {"FusedConv", KESTREL_CONV_ATTRS KESTREL_FUSED_ATTRS KESTREL_PACKED_ATTRS},
    {"FusedGemm", "alpha:f beta:f transA:i transB:i flatten_axis:i " KESTREL_FUSED_ATTRS},
    {"QFusedConv", KESTREL_CONV_ATTRS KESTREL_FUSED_ATTRS KESTREL_PACKED_ATTRS
     "output_scales:fs sum_scale:f output_type:s post_scale:f"},
    {"Reorder", "to:s"},
    {"LayoutView", "shape:is"},
    {"ChannelScale", "output_scale:f output_type:s"},
    {"ChannelAffine", KESTREL_FUSED_ATTRS},
    {"QGlobalAveragePool", "output_scale:f output_type:s"},
    {"ChannelShuffle", "groups:i fused_nodes:ss"},
    {"QConcat", "axis:i input_scales:fs output_type:s"},
    {"PreprocessFrame",
     "format:s frame_layout:s resize_height:i resize_width:i resize_shorter_side:i resize_mode:s crop_height:i "
     "crop_width:i color:s scale:f mean:fs std:fs layout:s output_type:s output_scale:f output_zero_point:i"},
};

AttributeKind parse_kind(const std::string& code) {
  static const std::unordered_map<std::string, AttributeKind> kCodes = {
      {"i", AttributeKind::kInt},   {"f", AttributeKind::kFloat},   {"s", AttributeKind::kString},
      {"is", AttributeKind::kInts}, {"fs", AttributeKind::kFloats}, {"ss", AttributeKind::kStrings},
      {"t", AttributeKind::kTensor}};
  return kCodes.at(code);  // the table above is the only input
}

using Table = std::unordered_map<std::string, std::vector<AttributeSpec>>;

Table build_table() {
  Table table;
  for (const OpEntry& entry : kOps) {
    std::vector<AttributeSpec>& specs = table[entry.op_type];
    std::istringstream words(entry.attributes);
    std::string word;
    while (words >> word) {
      const size_t colon = word.find(':');
      specs.push_back({word.substr(0, colon), parse_kind(word.substr(colon + 1))});
    }
  }
  return table;
}

bool holds(const AttributeValue& value, AttributeKind kind) {
  switch (kind) {
    case AttributeKind::kInt: return std::holds_alternative<int64_t>(value);
    case AttributeKind::kFloat: return std::holds_alternative<float>(value) || std::holds_alternative<int64_t>(value);
    case AttributeKind::kString: return std::holds_alternative<std::string>(value);
    case AttributeKind::kInts: return std::holds_alternative<std::vector<int64_t>>(value);
    case AttributeKind::kFloats: return std::holds_alternative<std::vector<float>>(value);
    case AttributeKind::kStrings: return std::holds_alternative<std::vector<std::string>>(value);
    case AttributeKind::kTensor: return std::holds_alternative<Tensor>(value);
  }
  return false;
}

std::string names_of(const std::vector<AttributeSpec>& specs) {
  if (specs.empty()) return "none";
  std::string names;
  for (const AttributeSpec& spec : specs) names += (names.empty() ? "" : ", ") + spec.name;
  return names;
}

}  // namespace

const std::vector<AttributeSpec>* op_attributes(const Node& node) {
  static const Table table = build_table();
  if (!node.domain.empty() && node.domain != kKestrelDomain) return nullptr;
  auto it = table.find(node.op_type);
  return it == table.end() ? nullptr : &it->second;
}

std::string attribute_kind_name(AttributeKind kind) {
  switch (kind) {
    case AttributeKind::kInt: return "an int";
    case AttributeKind::kFloat: return "a float";
    case AttributeKind::kString: return "a string";
    case AttributeKind::kInts: return "a list of ints";
    case AttributeKind::kFloats: return "a list of floats";
    case AttributeKind::kStrings: return "a list of strings";
    case AttributeKind::kTensor: return "a tensor";
  }
  return "unknown";
}

Status check_node_attributes(const Node& node) {
  const std::vector<AttributeSpec>* specs = op_attributes(node);
  if (specs == nullptr) return unimplemented(node.label(), ": op is not supported");
  for (const auto& [name, value] : node.attrs.all()) {
    const AttributeSpec* spec = nullptr;
    for (const AttributeSpec& candidate : *specs) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) {
      return invalid_argument(node.label(), ": unknown attribute '", name, "' (", node.op_type,
                              " takes: ", names_of(*specs), ")");
    }
    if (!holds(value, spec->kind)) {
      return invalid_argument(node.label(), ": attribute '", name, "' must be ", attribute_kind_name(spec->kind));
    }
  }
  return {};
}

}  // namespace kestrel
