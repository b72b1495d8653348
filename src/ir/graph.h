// The graph IR every pass works on: values (dtype, shape, optional constant
// data), nodes that consume and produce values, and the graph's inputs and
// outputs. Values are referred to by index; kNoValue marks an omitted
// optional input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "ir/attributes.h"
#include "ir/quant_params.h"
#include "ir/tensor.h"

namespace kestrel {

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;

// Physical order of a 4-D activation. Shapes are always logical (NCHW, as
// in ONNX); the layout says how the elements are laid out in memory.
enum class Layout : uint8_t { kPlain = 0, kNhwc = 1 };

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  // -1 marks a dim not known yet (e.g. a dynamic batch before the user gives
  // input shapes). `shape_known` is false until inference has run.
  Shape shape;
  bool shape_known = false;
  // Set for initializers and for values folded at compile time.
  std::optional<Tensor> constant;
  Layout layout = Layout::kPlain;
  // Set for int8/uint8 values (activations and weights) of a quantized graph.
  std::optional<QuantParams> quant;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Attributes attrs;

  // "node 'conv1' (Conv)" for error messages.
  std::string label() const;
};

class Graph {
 public:
  std::string name;
  int64_t opset = 0;  // default-domain opset version

  std::vector<Value> values;
  std::vector<Node> nodes;  // in topological order
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;

  // Adds a value; names must be unique (the empty name is allowed many times).
  ValueId add_value(Value value);
  ValueId find_value(const std::string& name) const;  // kNoValue if absent
  Value& value(ValueId id) { return values[static_cast<size_t>(id)]; }
  const Value& value(ValueId id) const { return values[static_cast<size_t>(id)]; }

  // For each value, the index of the node producing it (-1 for inputs and constants).
  std::vector<int64_t> producers() const;
  // Number of nodes (and graph outputs) consuming each value.
  std::vector<int32_t> use_counts() const;
  // Checks structural invariants: ids in range, single producer per value,
  // topological order, every consumed value produced or constant or input.
  Status verify() const;

 private:
  std::unordered_map<std::string, ValueId> value_by_name_;
};

}  // namespace kestrel
