// The attributes each op takes, by name and kind: a graph from a model file
// is checked against them before a session runs it, so that a misspelt or
// retyped attribute is an error naming the node and the attribute instead of
// a default silently taking its place (a dropped fused ReLU).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace kestrel {

// The AttributeValue alternative an attribute must hold. kFloat also takes
// an int (Attributes::get_float converts it).
enum class AttributeKind { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor };

struct AttributeSpec {
  std::string name;
  AttributeKind kind;
};

// The attributes `node`'s op takes (ONNX opsets 11 to 17 for ONNX ops, the
// passes' own for Kestrel's ops); null when the op is unknown.
const std::vector<AttributeSpec>* op_attributes(const Node& node);

std::string attribute_kind_name(AttributeKind kind);

// OK when every attribute of `node` is one its op takes, of the right kind;
// otherwise an error naming the node and the attribute.
Status check_node_attributes(const Node& node);

}  // namespace kestrel
