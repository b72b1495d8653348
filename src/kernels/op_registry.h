// The op table. Every op is one OpDef: a shape function (`infer`) and a
// reference kernel (`run`). Groups of ops register themselves through one
// register_*_ops function per file, one line per op; nothing switches over
// op types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "ir/graph.h"

namespace kestrel {

// A dim a shape function computed that does not fit in int64 (Tile's
// dim * repeats, Concat's sum, Pad's dim + pads, ...). Shape inference
// refuses any output holding it, naming the node.
inline constexpr int64_t kOverflowedDim = INT64_MIN;

// What a shape function knows about one input. `data` is set when the value
// is known: constants at compile time, every input at run time.
struct TensorInfo {
  DType dtype = DType::kUndefined;
  Shape shape;
  const Tensor* data = nullptr;
};

class InferContext {
 public:
  struct Output {
    DType dtype = DType::kUndefined;
    Shape shape;
    std::optional<Tensor> data;  // set when the shape function computed the value itself
  };

  // `inputs` has one entry per node input; omitted optional inputs have dtype kUndefined.
  InferContext(const Node& node, int64_t opset, std::vector<TensorInfo> inputs);

  const Node& node() const { return node_; }
  const Attributes& attrs() const { return node_.attrs; }
  int64_t opset() const { return opset_; }

  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i].dtype != DType::kUndefined; }
  const TensorInfo& input(size_t i) const { return inputs_[i]; }
  DType input_dtype(size_t i) const { return inputs_[i].dtype; }
  const Shape& input_shape(size_t i) const { return inputs_[i].shape; }
  const Tensor* input_data(size_t i) const { return has_input(i) ? inputs_[i].data : nullptr; }

  size_t num_outputs() const { return outputs_.size(); }
  void set_output(size_t i, DType dtype, Shape shape);
  // The shape function computed the output value itself (Shape, Constant).
  void set_output_data(size_t i, Tensor value);
  const std::vector<Output>& outputs() const { return outputs_; }

  // An invalid-argument status naming the node.
  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_argument(node_.label(), ": ", args...);
  }
  // Fails unless input count is within [min, max].
  Status expect_inputs(size_t min, size_t max) const;

 private:
  const Node& node_;
  int64_t opset_;
  std::vector<TensorInfo> inputs_;
  std::vector<Output> outputs_;
};

class KernelContext {
 public:
  // Omitted optional inputs are null. Every output is allocated with the
  // inferred dtype and shape before run() is called.
  KernelContext(const Node& node, int64_t opset, std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs)
      : node_(node), opset_(opset), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {}

  const Node& node() const { return node_; }
  const Attributes& attrs() const { return node_.attrs; }
  int64_t opset() const { return opset_; }

  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  const Tensor& input(size_t i) const { return *inputs_[i]; }
  size_t num_outputs() const { return outputs_.size(); }
  bool has_output(size_t i) const { return i < outputs_.size() && outputs_[i] != nullptr; }
  Tensor& output(size_t i) { return *outputs_[i]; }

  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_argument(node_.label(), ": ", args...);
  }

 private:
  const Node& node_;
  int64_t opset_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
};

using InferFn = Status (*)(InferContext&);
using KernelFn = Status (*)(KernelContext&);

// Domain of the ops Kestrel's passes create (FusedConv, ...).
inline constexpr std::string_view kKestrelDomain = "kestrel";

struct OpDef {
  std::string_view op_type;
  InferFn infer = nullptr;
  // May be null when infer always computes the outputs itself (Constant, Shape).
  KernelFn run = nullptr;
};

class OpRegistry {
 public:
  // All built-in ops.
  static const OpRegistry& global();

  void add(OpDef def);
  const OpDef* find(std::string_view op_type) const;
  // The op a graph node runs: ONNX ops in the default domain, Kestrel's own
  // fused ops in kKestrelDomain. Null when unknown.
  const OpDef* find(const Node& node) const;
  std::vector<std::string> op_types() const;

 private:
  std::unordered_map<std::string, OpDef> ops_;
};

// Each file of reference kernels registers its ops here.
void register_elementwise_ops(OpRegistry& registry);
void register_nn_ops(OpRegistry& registry);
void register_tensor_ops(OpRegistry& registry);
void register_fused_ops(OpRegistry& registry);
void register_quantized_ops(OpRegistry& registry);
void register_layout_ops(OpRegistry& registry);
void register_channel_ops(OpRegistry& registry);
void register_preprocess_frame_op(OpRegistry& registry);

// One error listing every node whose op has no kernel; OK when all are known.
Status check_supported_ops(const Graph& graph);

// Runs one node on concrete inputs: infers output shapes, allocates outputs
// and calls the reference kernel. Omitted optional inputs are null.
StatusOr<std::vector<Tensor>> run_node(const OpDef& def, const Node& node, int64_t opset,
                                       const std::vector<const Tensor*>& inputs);

}  // namespace kestrel
