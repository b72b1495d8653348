// Static shape inference: from the graph inputs' shapes (given by the user
// where the model leaves them open) to every value's dtype and shape. Values
// computable at compile time (shape arithmetic such as Shape -> Gather ->
// Concat -> Reshape) are evaluated on the way so data-dependent shapes resolve.
#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

using InputShapes = std::map<std::string, Shape>;

// Parses "input:1,3,224,224" or "a:1,3;b:1,10".
StatusOr<InputShapes> parse_input_shapes(const std::string& spec);

// Fixes the shapes of the named graph inputs; fails when a name is not an
// input or a shape contradicts the model's declared rank or fixed dims.
Status set_input_shapes(Graph& graph, const InputShapes& shapes);

// Replaces every unknown (-1) input dim with `value`; returns how many were set.
int set_dynamic_dims(Graph& graph, int64_t value);

// Fills dtype and shape of every value. All graph inputs must have full shapes.
Status infer_shapes(Graph& graph);

}  // namespace kestrel
