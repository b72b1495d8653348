// The CPU backend's implementation registry. Every op has an ordered list of
// implementations (the reference kernel implicitly last); the first that
// does not refuse a node runs it. The compiler's layout, in-place and
// weight-packing decisions and the session's kernel all come from that one
// choice, so they cannot disagree. `kestrel inspect --explain` prints the
// choice and every earlier refusal.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"
#include "runtime/fast_kernel.h"

namespace kestrel {

struct Implementation {
  std::string_view name;
  // Empty when it takes the node; otherwise why not (shown by inspect --explain).
  std::string (*refusal)(const Graph& graph, const Node& node) = nullptr;
  // The layout of the 4-D activations it reads and writes. kPlain for the
  // reference kernel, whose elementwise ops the layout pass lets follow
  // their producers' layout.
  Layout layout = Layout::kPlain;
  // It accumulates its Sum input into its output buffer (the memory planner
  // may then give both the same bytes).
  bool sums_in_place = false;
  // Optional: adds to the node, at convert time, its weights packed the way
  // this implementation wants them on this CPU (a cache it may use at load).
  Status (*pack)(Graph& graph, Node& node) = nullptr;
  // Null for the reference kernel (the session then runs the op table's kernel).
  StatusOr<std::unique_ptr<FastKernel>> (*create)(const Graph& graph, const Node& node) = nullptr;
};

// The name of the reference implementation, always the last candidate.
inline constexpr std::string_view kReferenceImplementation = "reference";

struct ImplementationChoice {
  const Implementation* chosen = nullptr;
  // The candidates before it, each with its reason for refusing.
  std::vector<std::pair<std::string_view, std::string>> refused;
};

// The implementation the CPU backend uses for `node` (requires static shapes).
ImplementationChoice choose_cpu_implementation(const Graph& graph, const Node& node);

// What refusals and factories ask of a node's inputs.
inline bool has_input(const Node& node, size_t i) { return i < node.inputs.size() && node.inputs[i] != kNoValue; }

// Input i's constant tensor; null when omitted or not a constant.
inline const Tensor* constant_input(const Graph& graph, const Node& node, size_t i) {
  if (!has_input(node, i)) return nullptr;
  const Value& value = graph.value(node.inputs[i]);
  return value.constant ? &*value.constant : nullptr;
}

inline bool is_float_4d(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  return value.dtype == DType::kFloat32 && value.shape.size() == 4;
}

inline bool is_byte_4d(const Graph& graph, ValueId id) {
  const Value& value = graph.value(id);
  return (value.dtype == DType::kInt8 || value.dtype == DType::kUInt8) && value.shape.size() == 4;
}

}  // namespace kestrel
