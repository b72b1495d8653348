#include "convert/bake_preprocess.h"

#include <charconv>

#include "io/preprocess.h"
#include "kernels/op_registry.h"

namespace kestrel {
namespace {

// The reader of `value` when a per-tensor QuantizeLinear is its only one.
Node* only_quantize_reader(Graph& graph, ValueId value) {
  Node* reader = nullptr;
  for (Node& node : graph.nodes) {
    for (ValueId in : node.inputs) {
      if (in != value) continue;
      if (reader != nullptr && reader != &node) return nullptr;
      reader = &node;
    }
  }
  for (ValueId out : graph.outputs) {
    if (out == value) return nullptr;
  }
  if (reader == nullptr || !reader->domain.empty() || reader->op_type != "QuantizeLinear" ||
      reader->inputs.size() < 2 || reader->inputs[0] != value || reader->outputs.size() != 1) {
    return nullptr;
  }
  const Value& scale = graph.value(reader->inputs[1]);
  if (!scale.constant || scale.constant->size() != 1) return nullptr;
  if (reader->inputs.size() > 2 && reader->inputs[2] != kNoValue) {
    const Value& zero = graph.value(reader->inputs[2]);
    if (!zero.constant || zero.constant->size() != 1) return nullptr;
  }
  const DType out = graph.value(reader->outputs[0]).dtype;
  return out == DType::kUInt8 || out == DType::kInt8 ? reader : nullptr;
}

}  // namespace

Status parse_frame_size(const std::string& text, int64_t& height, int64_t& width) {
  const size_t comma = text.find(',');
  auto number = [](std::string_view part, int64_t& value) {
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    return error == std::errc() && end == part.data() + part.size() && value > 0;
  };
  if (comma == std::string::npos || !number(std::string_view(text).substr(0, comma), height) ||
      !number(std::string_view(text).substr(comma + 1), width)) {
    return invalid_argument("--input-size '", text, "': expected H,W (two positive integers)");
  }
  return {};
}

Status bake_preprocess(Graph& graph, const BakeOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(options.spec_path));
  if (graph.inputs.size() != 1) {
    return invalid_argument("--bake-preprocess: the model has ", graph.inputs.size(),
                            " inputs; baked preprocessing feeds a model with one image input");
  }
  const ValueId input = graph.inputs[0];
  const Value original = graph.value(input);
  if (original.dtype != DType::kFloat32 || original.shape.size() != 4) {
    return invalid_argument("--bake-preprocess: input '", original.name, "' is ", dtype_name(original.dtype), " ",
                            shape_string(original.shape), ", not a float32 image batch");
  }
  FrameSpec frame;
  const std::string format = options.format.empty() ? (spec.color == "grey" ? "gray8" : "rgb8") : options.format;
  auto parsed = parse_frame_format(format);
  if (!parsed.ok()) return parsed.status().with_context("--input-format");
  frame.format = *parsed;
  if (!options.layout.empty() && options.layout != "nhwc" && options.layout != "nchw") {
    return invalid_argument("--input-layout '", options.layout, "' is not nhwc or nchw");
  }
  frame.planar = options.layout == "nchw";
  const bool nhwc_model = spec.layout == "NHWC";
  const int64_t model_h = nhwc_model ? original.shape[1] : original.shape[2];
  const int64_t model_w = nhwc_model ? original.shape[2] : original.shape[3];
  const bool resizes = spec.resize_height || spec.resize_shorter_side;
  if (options.height == 0 && resizes) {
    return invalid_argument("--bake-preprocess: ", options.spec_path,
                            " resizes, so the frame size is not the model's: give --input-size H,W");
  }
  frame.height = options.height ? options.height : model_h;
  frame.width = options.width ? options.width : model_w;
  const int64_t batch = original.shape[0];
  KESTREL_ASSIGN_OR_RETURN(const Shape frames, frame_shape(frame, batch));
  auto size = preprocessed_size(spec, frame.height, frame.width, frame_channels(frame.format));
  if (!size.ok()) {
    return size.status().with_context(str_cat("--bake-preprocess ", options.spec_path, " on ", format, " frames of ",
                                              frame.height, "x", frame.width));
  }
  const Shape produced = preprocessed_batch_shape(spec, *size, batch);
  if (produced != original.shape) {
    return invalid_argument("--bake-preprocess ", options.spec_path, " turns ", format, " frames of ", frame.height,
                            "x", frame.width, " into ", shape_string(produced), ", but input '", original.name, "' is ",
                            shape_string(original.shape), " (give --input-size, or fix the spec)");
  }
  // The frames take the input's name; the float image becomes an inner value.
  Value frame_value;
  frame_value.name = original.name;
  frame_value.dtype = DType::kUInt8;
  frame_value.shape = frames;
  frame_value.shape_known = true;
  graph.value(input).name = original.name + "/preprocessed";
  const ValueId frame_id = graph.add_value(std::move(frame_value));
  graph.inputs[0] = frame_id;

  PreprocessOutput output;
  output.nhwc = nhwc_model;
  ValueId produced_id = input;
  if (Node* quantize = only_quantize_reader(graph, input)) {
    // Quantized straight from the pixels: the QuantizeLinear goes.
    output.dtype = graph.value(quantize->outputs[0]).dtype;
    output.scale = static_cast<float>(graph.value(quantize->inputs[1]).constant->float_at(0));
    const bool has_zero = quantize->inputs.size() > 2 && quantize->inputs[2] != kNoValue;
    output.zero_point = has_zero ? static_cast<int32_t>(graph.value(quantize->inputs[2]).constant->int_at(0)) : 0;
    produced_id = quantize->outputs[0];
    quantize->op_type.clear();  // marked for removal below
  }
  std::erase_if(graph.nodes, [](const Node& node) { return node.op_type.empty(); });
  Node stage{.name = original.name + "/preprocess",
             .op_type = kPreprocessFrameOp,
             .domain = std::string(kKestrelDomain),
             .inputs = {frame_id},
             .outputs = {produced_id}};
  stage.attrs = frame_stage_attributes(frame, spec, output);
  graph.nodes.insert(graph.nodes.begin(), std::move(stage));
  return graph.verify().with_context("IR invalid after baking the preprocessing");
}

}  // namespace kestrel
