// The reference executor: runs a Graph node by node with the reference
// kernels, inferring shapes from the actual inputs on every run (so the batch
// size comes from the input tensors). It is the oracle for optimized paths.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "kernels/op_registry.h"

namespace kestrel {

class Interpreter {
 public:
  // Fails, listing every node, when some op has no kernel.
  static StatusOr<Interpreter> create(std::shared_ptr<const Graph> graph);

  const Graph& graph() const { return *graph_; }

  // Called after each node with its outputs (valid only during the call).
  using Observer = std::function<void(const Node& node, const std::vector<const Tensor*>& outputs)>;

  // Inputs by graph-input name; every graph input must be given, and nothing else.
  // Returns the graph outputs in graph order.
  StatusOr<std::vector<Tensor>> run(const std::map<std::string, Tensor>& inputs,
                                    const Observer& observer = nullptr) const;

 private:
  Status check_input(const Value& declared, const Tensor& given) const;

  std::shared_ptr<const Graph> graph_;
  std::vector<const OpDef*> ops_;       // per node
  std::vector<int64_t> last_consumer_;  // per value: index of the last node reading it
};

}  // namespace kestrel
