#include "ir/graph.h"

namespace kestrel {

std::string Node::label() const { return str_cat("node '", name, "' (", op_type, ")"); }

ValueId Graph::add_value(Value value) {
  const ValueId id = static_cast<ValueId>(values.size());
  if (!value.name.empty()) value_by_name_[value.name] = id;
  values.push_back(std::move(value));
  return id;
}

ValueId Graph::find_value(const std::string& value_name) const {
  auto it = value_by_name_.find(value_name);
  return it == value_by_name_.end() ? kNoValue : it->second;
}

std::vector<int64_t> Graph::producers() const {
  std::vector<int64_t> producer(values.size(), -1);
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (ValueId out : nodes[n].outputs) {
      if (out != kNoValue) producer[static_cast<size_t>(out)] = static_cast<int64_t>(n);
    }
  }
  return producer;
}

std::vector<int32_t> Graph::use_counts() const {
  std::vector<int32_t> uses(values.size(), 0);
  for (const Node& node : nodes) {
    for (ValueId in : node.inputs) {
      if (in != kNoValue) ++uses[static_cast<size_t>(in)];
    }
  }
  for (ValueId out : outputs) ++uses[static_cast<size_t>(out)];
  return uses;
}

Status Graph::verify() const {
  const auto in_range = [&](ValueId id) { return id >= 0 && static_cast<size_t>(id) < values.size(); };
  std::vector<char> available(values.size(), 0);
  for (ValueId id : inputs) {
    if (!in_range(id)) return internal_error("graph input id ", id, " out of range");
    available[static_cast<size_t>(id)] = 1;
  }
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].constant) available[v] = 1;
  }
  std::vector<char> produced(values.size(), 0);
  for (const Node& node : nodes) {
    for (ValueId in : node.inputs) {
      if (in == kNoValue) continue;
      if (!in_range(in)) return internal_error(node.label(), ": input id ", in, " out of range");
      if (!available[static_cast<size_t>(in)]) {
        return internal_error(node.label(), ": input '", value(in).name,
                              "' is used before it is produced (graph not topologically sorted)");
      }
    }
    for (ValueId out : node.outputs) {
      if (out == kNoValue) continue;
      if (!in_range(out)) return internal_error(node.label(), ": output id ", out, " out of range");
      if (produced[static_cast<size_t>(out)] || value(out).constant) {
        return internal_error(node.label(), ": output '", value(out).name, "' has more than one producer");
      }
      produced[static_cast<size_t>(out)] = 1;
      available[static_cast<size_t>(out)] = 1;
    }
  }
  for (ValueId out : outputs) {
    if (!in_range(out) || !available[static_cast<size_t>(out)]) {
      return internal_error("graph output id ", out, " is never produced");
    }
  }
  return {};
}

}  // namespace kestrel
