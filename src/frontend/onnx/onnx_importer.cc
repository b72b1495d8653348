#include "frontend/onnx/onnx_importer.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/regular_file.h"
#include "frontend/onnx/onnx_tensor.h"
#include "kernels/op_registry.h"

namespace kestrel {
namespace {

StatusOr<AttributeValue> convert_attribute(const onnx::AttributeProto& attr, const std::string& base_dir) {
  using A = onnx::AttributeProto;
  switch (attr.type()) {
    case A::INT: return AttributeValue(static_cast<int64_t>(attr.i()));
    case A::FLOAT: return AttributeValue(attr.f());
    case A::STRING: return AttributeValue(attr.s());
    case A::INTS: return AttributeValue(std::vector<int64_t>(attr.ints().begin(), attr.ints().end()));
    case A::FLOATS: return AttributeValue(std::vector<float>(attr.floats().begin(), attr.floats().end()));
    case A::STRINGS: return AttributeValue(std::vector<std::string>(attr.strings().begin(), attr.strings().end()));
    case A::TENSOR: {
      KESTREL_ASSIGN_OR_RETURN(Tensor tensor, tensor_from_onnx(attr.t(), base_dir));
      return AttributeValue(std::move(tensor));
    }
    default:
      return unimplemented("attribute '", attr.name(), "' has type ", A::AttributeType_Name(attr.type()),
                           ", which is not supported");
  }
}

StatusOr<Value> graph_input_value(const onnx::ValueInfoProto& info) {
  Value value;
  value.name = info.name();
  if (!info.type().has_tensor_type()) {
    return unimplemented("graph input '", info.name(),
                         "' is not a tensor (sequences, maps and optionals are not supported)");
  }
  const auto& tensor_type = info.type().tensor_type();
  value.dtype = dtype_from_int(tensor_type.elem_type());
  if (!dtype_is_supported(value.dtype)) {
    return unimplemented("graph input '", info.name(), "' has unsupported element type #", tensor_type.elem_type());
  }
  if (tensor_type.has_shape()) {
    for (const auto& dim : tensor_type.shape().dim()) {
      // Unknown dims are dim_param (or unset); a negative dim_value is an error, not "dynamic".
      if (dim.has_dim_value() && dim.dim_value() < 0) {
        return invalid_argument("graph input '", info.name(), "': dim ", value.shape.size(), " has the negative value ",
                                dim.dim_value(), " (unknown dims are written as dim_param)");
      }
      value.shape.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
    }
    value.shape_known = true;
  }
  return value;
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string base_dir, std::string label)
      : model_(model), base_dir_(std::move(base_dir)), label_(std::move(label)) {}

  StatusOr<Graph> run() {
    KESTREL_RETURN_IF_ERROR(read_opset());
    const auto& proto = model_.graph();
    graph_.name = proto.name();
    for (const auto& init : proto.initializer()) KESTREL_RETURN_IF_ERROR(add_initializer(init));
    for (const auto& input : proto.input()) KESTREL_RETURN_IF_ERROR(add_input(input));
    for (int i = 0; i < proto.node_size(); ++i) KESTREL_RETURN_IF_ERROR(add_node(proto.node(i), i));
    if (proto.output_size() == 0) return invalid_argument("the graph has no outputs, so it computes nothing");
    for (const auto& output : proto.output()) {
      const ValueId id = graph_.find_value(output.name());
      if (id == kNoValue) return invalid_argument("graph output '", output.name(), "' is never produced");
      graph_.outputs.push_back(id);
    }
    KESTREL_RETURN_IF_ERROR(graph_.verify());
    return std::move(graph_);
  }

 private:
  Status read_opset() {
    for (const auto& opset : model_.opset_import()) {
      if (!opset.domain().empty() && opset.domain() != "ai.onnx") continue;
      if (graph_.opset != 0) {
        return invalid_argument("the model imports the default-domain (ai.onnx) opset twice (versions ", graph_.opset,
                                " and ", opset.version(), "); it must be imported once");
      }
      graph_.opset = opset.version();
    }
    if (graph_.opset == 0) return invalid_argument("the model imports no default-domain (ai.onnx) opset");
    if (graph_.opset < kMinOnnxOpset || graph_.opset > kMaxOnnxOpset) {
      return unimplemented("opset ", graph_.opset, " is not supported (supported: ", kMinOnnxOpset, " to ",
                           kMaxOnnxOpset, ")");
    }
    return {};
  }

  Status add_initializer(const onnx::TensorProto& init) {
    if (init.name().empty()) return invalid_argument("an initializer has no name");
    if (graph_.find_value(init.name()) != kNoValue) {
      return invalid_argument("initializer '", init.name(), "' is defined twice");
    }
    KESTREL_ASSIGN_OR_RETURN(Tensor tensor, tensor_from_onnx(init, base_dir_));
    Value value{.name = init.name(), .dtype = tensor.dtype(), .shape = tensor.shape(), .shape_known = true};
    value.constant = std::move(tensor);
    graph_.add_value(std::move(value));
    return {};
  }

  Status add_input(const onnx::ValueInfoProto& input) {
    // Before IR version 4 initializers were also listed as inputs; they stay constants.
    if (graph_.find_value(input.name()) != kNoValue) return {};
    KESTREL_ASSIGN_OR_RETURN(Value value, graph_input_value(input));
    graph_.inputs.push_back(graph_.add_value(std::move(value)));
    return {};
  }

  Status add_node(const onnx::NodeProto& proto, int index) {
    Node node;
    node.name = proto.name().empty() ? str_cat(proto.op_type(), "_", index) : proto.name();
    node.op_type = proto.op_type();
    node.domain = proto.domain() == "ai.onnx" ? "" : proto.domain();
    for (const auto& name : proto.input()) {
      if (name.empty()) {
        node.inputs.push_back(kNoValue);
        continue;
      }
      const ValueId id = graph_.find_value(name);
      if (id == kNoValue) {
        return invalid_argument(node.label(), ": input '", name,
                                "' is not produced by any earlier node, graph input or initializer");
      }
      node.inputs.push_back(id);
    }
    for (const auto& name : proto.output()) {
      if (name.empty()) {
        node.outputs.push_back(kNoValue);
        continue;
      }
      if (graph_.find_value(name) != kNoValue) {
        return invalid_argument(node.label(), ": output '", name, "' is already defined");
      }
      node.outputs.push_back(graph_.add_value(Value{.name = name}));
    }
    for (const auto& attr : proto.attribute()) {
      auto value = convert_attribute(attr, base_dir_);
      if (!value.ok()) return value.status().with_context(node.label());
      node.attrs.set(attr.name(), std::move(value).value());
    }
    graph_.nodes.push_back(std::move(node));
    return {};
  }

  const onnx::ModelProto& model_;
  std::string base_dir_;
  std::string label_;
  Graph graph_;
};

// Runs ONNX's graph checker with the model's directory set, so external data
// is looked up next to the model rather than in the working directory.
Status run_onnx_checker(const onnx::ModelProto& model, const std::string& base_dir) {
  try {
    onnx::checker::CheckerContext context;
    context.set_ir_version(static_cast<int>(model.ir_version()));
    std::unordered_map<std::string, int> opsets;
    for (const auto& opset : model.opset_import()) opsets[opset.domain()] = static_cast<int>(opset.version());
    context.set_opset_imports(opsets);
    context.set_model_dir(base_dir);
    onnx::checker::LexicalScopeContext scope;
    onnx::checker::check_graph(model.graph(), context, scope);
  } catch (const std::exception& error) {
    std::string message = error.what();
    // The checker appends a multi-line context dump; the first line says what is wrong.
    if (auto newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
    return invalid_argument("invalid ONNX model: ", message);
  }
  return {};
}

}  // namespace

StatusOr<Graph> import_onnx_bytes(const std::string& bytes, const std::string& base_dir, const std::string& label) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    return data_loss(label,
                     ": not an ONNX model (protobuf parsing failed; the file is truncated or of another format)");
  }
  if (model.ir_version() == 0 || !model.has_graph()) {
    return data_loss(label, ": not an ONNX model (no IR version or no graph)");
  }
  if (model.ir_version() < kMinOnnxIrVersion || model.ir_version() > kMaxOnnxIrVersion) {
    return unimplemented(label, ": ONNX IR version ", model.ir_version(),
                         " is not supported (supported: ", kMinOnnxIrVersion, " to ", kMaxOnnxIrVersion, ")");
  }
  auto graph = Importer(model, base_dir, label).run();
  if (!graph.ok()) return graph.status().with_context(label);
  KESTREL_RETURN_IF_ERROR(check_supported_ops(*graph).with_context(label));
  KESTREL_RETURN_IF_ERROR(run_onnx_checker(model, base_dir).with_context(label));
  return graph;
}

StatusOr<Graph> import_onnx_file(const std::string& path) {
  // A regular file only (a FIFO or /dev/zero would hang), within protobuf's limit.
  KESTREL_ASSIGN_OR_RETURN(const std::string bytes, read_regular_file(path, kMaxProtobufBytes));
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  return import_onnx_bytes(bytes, base_dir.empty() ? "." : base_dir, path);
}

}  // namespace kestrel
