// Bad-input catalogue: hostile and careless ONNX files. Sizes declared in the
// file are checked against the bytes present before anything is allocated,
// external data stays inside the model's folder, shape arithmetic is
// overflow-checked, and what ONNX would reject is not silently accepted.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bad_input_catalogue.h"
#include "onnx_test_models.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

// A graph output whose shape Kestrel infers (ONNX's checker wants a shape field).
void add_any_output(onnx::ModelProto& model, const std::string& name) {
  add_tensor_value(model.mutable_graph()->mutable_output(), name, {});
  model.mutable_graph()->mutable_output()->rbegin()->mutable_type()->mutable_tensor_type()->mutable_shape();
}

constexpr int64_t k2Pow40 = int64_t{1} << 40;

void add_pads(onnx::NodeProto* conv) {
  auto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
}

// x [1,1,4,4] -> Conv 'conv' (w [2,1,3,3], pads 1) -> t -> Conv 'conv2' -> y.
// Two convs so that `t` lives in the activation arena (graph inputs and
// outputs do not); the cases change node 0.
onnx::ModelProto conv_model(const std::vector<int64_t>& input = {1, 1, 4, 4}) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", input);
  add_any_output(model, "y");
  add_float_initializer(model, "w", {2, 1, 3, 3}, std::vector<float>(18, 0.5f));
  add_float_initializer(model, "w2", {2, 2, 3, 3}, std::vector<float>(36, 0.25f));
  add_pads(add_node(model, "Conv", {"x", "w"}, {"t"}, "conv"));
  add_pads(add_node(model, "Conv", {"t", "w2"}, {"y"}, "conv2"));
  return model;
}

void set_ints(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
  for (auto& attr : *node->mutable_attribute()) {
    if (attr.name() == name) {
      attr.clear_ints();
      for (int64_t v : values) attr.add_ints(v);
      return;
    }
  }
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attr->add_ints(v);
}

// x [1,2] -> Add(x, w) -> y: the initializer `w` is what each case corrupts.
onnx::ModelProto add_model(onnx::TensorProto** weight) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 2});
  add_tensor_value(model.mutable_graph()->mutable_output(), "y", {1, 2});
  add_node(model, "Add", {"x", "w"}, {"y"}, "add");
  *weight = add_float_initializer(model, "w", {2}, {});
  return model;
}

std::string save(const onnx::ModelProto& model, const std::string& dir, const std::string& name = "m.onnx") {
  save_model(model, dir + "/" + name);
  return dir + "/" + name;
}

// An Add model whose `w` has `dims` and 16 bytes of raw_data.
std::string raw_data_case(const std::string& dir, const std::vector<int64_t>& dims) {
  onnx::TensorProto* w = nullptr;
  auto model = add_model(&w);
  w->clear_dims();
  for (int64_t d : dims) w->add_dims(d);
  w->set_raw_data(std::string(16, '\0'));
  return "inspect --model " + save(model, dir);
}

// An Add model whose `w` [2] float lives in external data.
std::string external_case(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& entries,
                          const std::string& command = "inspect") {
  onnx::TensorProto* w = nullptr;
  auto model = add_model(&w);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : entries) {
    auto* entry = w->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  const std::string path = save(model, dir);
  return command + " --model " + path + (command == "convert" ? " --output " + dir + "/m.kestrel" : "");
}

void write_bytes(const std::string& path, size_t n) { std::ofstream(path, std::ios::binary) << std::string(n, '\1'); }

std::string convert_args(const std::string& model, const std::string& dir) {
  return "convert --model " + model + " --output " + dir + "/m.kestrel";
}

// x -> Op(x, c) -> y with a constant int64 second input.
std::string shape_op_case(const std::string& dir, const std::string& op, const std::vector<int64_t>& x_shape,
                          const std::vector<int64_t>& values) {
  auto model = make_model();
  add_tensor_value(model.mutable_graph()->mutable_input(), "x", x_shape);
  add_any_output(model, "y");
  auto* c = model.mutable_graph()->add_initializer();
  c->set_name("c");
  c->set_data_type(onnx::TensorProto::INT64);
  c->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) c->add_int64_data(v);
  add_node(model, op, {"x", "c"}, {"y"}, "op");
  return "inspect --model " + save(model, dir);
}

KESTREL_BAD_INPUTS({
    // --- 1. Initializer sizes checked against the bytes present, before allocating.
    {.name = "OnnxInitializer6GBDeclared16BytesPresent",
     .make = [](const std::string& dir) { return raw_data_case(dir, {1610612736}); },
     .fragments = {"m.onnx", "tensor 'w'", "raw_data has 16 bytes", "6442450944"},
     .reason = "a 6 GB initializer shape with 16 bytes of data must not allocate 6 GB"},
    {.name = "OnnxInitializer2Pow40Elements",
     .make = [](const std::string& dir) { return raw_data_case(dir, {k2Pow40}); },
     .fragments = {"m.onnx", "tensor 'w'", "raw_data has 16 bytes", "4398046511104"},
     .reason = "dims [2^40] answered 'out of memory' without naming the file"},
    {.name = "OnnxInitializerElementCountOverflows",
     .make =
         [](const std::string& dir) {
           return raw_data_case(dir, {int64_t{1} << 32, int64_t{1} << 32});
         },
     .fragments = {"m.onnx", "tensor 'w'", "64-bit"},
     .reason = "an element count beyond int64"},
    {.name = "OnnxInitializerByteSizeOverflows",
     .make = [](const std::string& dir) { return raw_data_case(dir, {int64_t{1} << 62}); },
     .fragments = {"m.onnx", "tensor 'w'", "64-bit"},
     .reason = "elements fit int64 but bytes (x4) do not"},
    {.name = "OnnxInitializerTypedFieldTooShort",
     .make =
         [](const std::string& dir) {
           onnx::TensorProto* w = nullptr;
           auto model = add_model(&w);
           w->clear_dims();
           w->add_dims(1610612736);
           for (int i = 0; i < 4; ++i) w->add_float_data(1.0f);
           return "inspect --model " + save(model, dir);
         },
     .fragments = {"m.onnx", "tensor 'w'", "holds 4 values", "1610612736"},
     .reason = "float_data with 4 values for a 6 GB shape must not allocate"},
    {.name = "OnnxConstantNodeTensorHuge",
     .make =
         [](const std::string& dir) {
           auto model = make_model();
           add_any_output(model, "y");
           auto* node = add_node(model, "Constant", {}, {"y"}, "const");
           auto* attr = node->add_attribute();
           attr->set_name("value");
           attr->set_type(onnx::AttributeProto::TENSOR);
           attr->mutable_t()->set_name("value_tensor");
           attr->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
           attr->mutable_t()->add_dims(k2Pow40);
           attr->mutable_t()->set_raw_data(std::string(16, '\0'));
           return "inspect --model " + save(model, dir);
         },
     .fragments = {"m.onnx", "node 'const'", "tensor 'value_tensor'", "raw_data has 16 bytes"},
     .reason = "a Constant node's tensor attribute is checked like an initializer"},

    // --- 2. External data: inside the model's folder, a regular file, long enough.
    {.name = "OnnxExternalDataDotDotEscape",
     .make =
         [](const std::string& dir) {
           return external_case(dir, {{"location", "../../../../../../etc/passwd"}});
         },
     .fragments = {"m.onnx", "tensor 'w'", "../../../../../../etc/passwd", "'..'"},
     .reason = "a location escaping the model's folder was read"},
    {.name = "OnnxExternalDataDotDotInside",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_directories(dir + "/sub");
           write_bytes(dir + "/w.bin", 8);
           return external_case(dir, {{"location", "sub/../w.bin"}});
         },
     .fragments = {"tensor 'w'", "'..'"},
     .reason = "ONNX's rule: no '..' part at all, even one that stays inside"},
    {.name = "OnnxExternalDataNulInLocation",
     .make =
         [](const std::string& dir) {
           write_bytes(dir + "/w.bin", 8);
           return external_case(dir, {{"location", std::string("w.bin\0/../../../etc/passwd", 26)}});
         },
     .fragments = {"tensor 'w'", "NUL"},
     .reason = "a NUL would cut the path short where the checks and the open disagree"},
    {.name = "OnnxExternalDataAbsolutePath",
     .make =
         [](const std::string& dir) {
           return external_case(dir, {{"location", "/etc/passwd"}});
         },
     .fragments = {"m.onnx", "tensor 'w'", "absolute path"},
     .reason = "an absolute location is refused before it is opened"},
    {.name = "OnnxExternalDataSymlinkEscape",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_symlink("/etc/passwd", dir + "/w.bin");
           return external_case(dir, {{"location", "w.bin"}}, "convert");
         },
     .fragments = {"m.onnx", "tensor 'w'", "outside the model's folder"},
     .reason = "a symlink inside the folder pointing out of it"},
    {.name = "OnnxExternalDataSymlinkToDevZero",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_symlink("/dev/zero", dir + "/w.bin");
           return external_case(dir, {{"location", "w.bin"}});
         },
     .fragments = {"tensor 'w'", "outside the model's folder"},
     .reason = "/dev/zero as external data hung"},
    {.name = "OnnxExternalDataFifo",
     .make =
         [](const std::string& dir) {
           ::mkfifo((dir + "/w.bin").c_str(), 0600);
           return external_case(dir, {{"location", "w.bin"}});
         },
     .fragments = {"m.onnx", "tensor 'w'", "a FIFO"},
     .reason = "a FIFO as external data hung"},
    {.name = "OnnxExternalDataDirectory",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_directories(dir + "/w.bin");
           return external_case(dir, {{"location", "w.bin"}});
         },
     .fragments = {"tensor 'w'", "a directory"},
     .reason = "a directory as external data"},
    {.name = "OnnxExternalDataMissingFile",
     .make =
         [](const std::string& dir) {
           return external_case(dir, {{"location", "absent.bin"}});
         },
     .fragments = {"m.onnx", "tensor 'w'", "absent.bin", "does not exist"},
     .reason = "a missing external data file"},
    {.name = "OnnxExternalDataOffsetBeyondFile",
     .make =
         [](const std::string& dir) {
           write_bytes(dir + "/w.bin", 16);
           return external_case(dir, {{"location", "w.bin"}, {"offset", "1000"}});
         },
     .fragments = {"tensor 'w'", "has 16 bytes", "offset 1000"},
     .reason = "offset + length beyond the file's size"},
    {.name = "OnnxExternalDataOffsetOverflows",
     .make =
         [](const std::string& dir) {
           write_bytes(dir + "/w.bin", 16);
           return external_case(dir, {{"location", "w.bin"}, {"offset", "9223372036854775805"}});
         },
     .fragments = {"tensor 'w'", "too short for offset 9223372036854775805"},
     .reason = "offset + length overflowing int64"},
    {.name = "OnnxExternalDataLengthMismatch",
     .make =
         [](const std::string& dir) {
           write_bytes(dir + "/w.bin", 16);
           return external_case(dir, {{"location", "w.bin"}, {"length", "4"}});
         },
     .fragments = {"tensor 'w'", "length 4 does not match", "8 bytes"},
     .reason = "a length that contradicts the shape"},
    {.name = "OnnxExternalDataOffsetNotANumber",
     .make =
         [](const std::string& dir) {
           write_bytes(dir + "/w.bin", 16);
           return external_case(dir, {{"location", "w.bin"}, {"offset", "12abc"}});
         },
     .fragments = {"tensor 'w'", "offset '12abc'"},
     .reason = "a malformed offset is an error, not a prefix"},
    {.name = "OnnxExternalDataInSubfolderAccepted",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_directories(dir + "/weights");
           write_bytes(dir + "/weights/w.bin", 24);
           return external_case(dir, {{"location", "weights/w.bin"}, {"offset", "16"}, {"length", "8"}}, "convert");
         },
     .exit_code = 0,
     .fragments = {"m.kestrel"},
     .reason = "well-formed external data in a subfolder still converts"},

    // --- The model file itself: a regular file.
    {.name = "OnnxModelIsFifo",
     .make =
         [](const std::string& dir) {
           ::mkfifo((dir + "/m.onnx").c_str(), 0600);
           return "inspect --model " + dir + "/m.onnx";
         },
     .fragments = {"m.onnx", "a FIFO"},
     .reason = "a FIFO as the model hung"},
    {.name = "OnnxModelIsDevZero",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_symlink("/dev/zero", dir + "/m.onnx");
           return convert_args(dir + "/m.onnx", dir);
         },
     .fragments = {"m.onnx", "a character device"},
     .reason = "/dev/zero as the model read without end"},
    {.name = "OnnxModelIsDirectory",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_directories(dir + "/m.onnx");
           return "inspect --model " + dir + "/m.onnx";
         },
     .fragments = {"m.onnx", "a directory"},
     .reason = "a directory named like a model"},

    // --- 3. Shape arithmetic: overflow-checked, and the arena limited.
    {.name = "OnnxInputShape2Pow32Overflows",
     .make =
         [](const std::string& dir) {
           return convert_args(save(conv_model({-1, -1, -1, -1}), dir), dir) +
                  " --input-shape x:1,3,4294967296,4294967296";
         },
     .fragments = {"--input-shape", "x:1,3,4294967296,4294967296", "64-bit"},
     .reason = "an element count overflowing int64 reached oneDNN (SIGFPE)"},
    {.name = "OnnxInputShape3037000500Overflows",
     .make =
         [](const std::string& dir) {
           return convert_args(save(conv_model({-1, -1, -1, -1}), dir), dir) +
                  " --input-shape x:1,3,3037000500,3037000500";
         },
     .fragments = {"--input-shape", "64-bit"},
     .reason = "converted with exit 0 and an arena computed from overflowed sizes"},
    {.name = "OnnxInspectInputShapeOverflows",
     .make =
         [](const std::string& dir) {
           return "inspect --model " + save(conv_model({-1, -1, -1, -1}), dir) +
                  " --input-shape x:1,3,3037000500,3037000500";
         },
     .fragments = {"--input-shape", "64-bit"},
     .reason = "inspect printed 0 MACs for an overflowed shape"},
    {.name = "OnnxDeclaredInputBytesOverflow",
     .make =
         [](const std::string& dir) {
           return "inspect --model " + save(conv_model({1, 1, k2Pow40, k2Pow40}), dir);
         },
     .fragments = {"m.onnx", "input 'x'", "64-bit"},
     .reason = "a declared input whose element count overflows"},
    {.name = "OnnxDeclaredInputNeedsTerabyteArena",
     .make =
         [](const std::string& dir) {
           return convert_args(save(conv_model({1, 1, 1000000, 1000000}), dir), dir);
         },
     .fragments = {"m.onnx", "activation arena needs", "more than the limit", "--max-arena-bytes"},
     .reason = "a 1x1x1e6x1e6 input converted to a file needing an 8 TB arena"},
    {.name = "OnnxInt8ArenaCheckedBeforeCalibration",
     .make =
         [](const std::string& dir) {
           return convert_args(save(conv_model({1, 1, 1000000, 1000000}), dir), dir) +
                  " --precision int8 --calibration-data /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
                  " --calibration-count 16 --preprocess " +
                  source_path("models/fmnist_cnn.preprocess.json");
         },
     .fragments = {"m.onnx", "activation arena needs", "more than the limit"},
     .reason = "INT8: the arena limit is checked before calibration runs the model"},
    {.name = "OnnxDeclaredInputOverMaxArenaBytes",
     .make =
         [](const std::string& dir) {
           return convert_args(save(conv_model({1, 1, 100000, 100000}), dir), dir) + " --max-arena-bytes 1000000000";
         },
     .fragments = {"m.onnx", "activation arena needs", "limit of 1000000000 bytes", "--max-arena-bytes"},
     .reason = "a 1x1x100000x100000 input converted with exit 0"},
    {.name = "OnnxConvPads2Pow20NeedTerabytes",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           set_ints(model.mutable_graph()->mutable_node(0), "pads", {1 << 20, 1 << 20, 1 << 20, 1 << 20});
           return convert_args(save(model, dir), dir);
         },
     .fragments = {"m.onnx", "activation arena needs", "more than the limit"},
     .reason = "Conv pads of 2^20 converted to a multi-terabyte arena"},
    {.name = "OnnxConvPadsOverflow",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           const int64_t big = int64_t{1} << 62;
           set_ints(model.mutable_graph()->mutable_node(0), "pads", {big, big, big, big});
           return "inspect --model " + save(model, dir);
         },
     .fragments = {"m.onnx", "node 'conv' (Conv)", "pads", "64-bit"},
     .reason = "in + pads overflowing int64 in the conv output size"},
    {.name = "OnnxConvDilationsOverflow",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           set_ints(model.mutable_graph()->mutable_node(0), "dilations", {int64_t{1} << 62, 1});
           return "inspect --model " + save(model, dir);
         },
     .fragments = {"m.onnx", "node 'conv' (Conv)", "dilation", "64-bit"},
     .reason = "(kernel - 1) * dilation overflowing int64"},
    {.name = "OnnxConvRefusedByOneDnnNamesTheNode",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           const int64_t big = int64_t{1} << 40;
           set_ints(model.mutable_graph()->mutable_node(0), "dilations", {big, big});
           set_ints(model.mutable_graph()->mutable_node(0), "pads", {big, big, big, big});
           set_ints(model.mutable_graph()->mutable_node(0), "strides", {big * 4, big * 4});
           return "convert --model " + save(model, dir) + " --output " + dir + "/m.kestrel";
         },
     .fragments = {"m.onnx", "node 'conv'", "oneDNN rejected"},
     .reason = "a kernel library's refusal names the node it refused"},
    {.name = "OnnxConvStridesLargeAccepted",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           set_ints(model.mutable_graph()->mutable_node(0), "strides", {int64_t{1} << 62, int64_t{1} << 62});
           return "inspect --model " + save(model, dir);
         },
     .exit_code = 0,
     .fragments = {"[1,2,1,1]"},
     .reason = "a huge stride is legal: one output position"},
    {.name = "OnnxTileRepeatsOverflow",
     .make =
         [](const std::string& dir) {
           return shape_op_case(dir, "Tile", {1, 2}, {k2Pow40, k2Pow40});
         },
     .fragments = {"m.onnx", "node 'op' (Tile)", "64-bit"},
     .reason = "Tile's dim * repeats overflowing int64"},
    {.name = "OnnxReshapeTargetOverflow",
     .make =
         [](const std::string& dir) {
           return shape_op_case(dir, "Reshape", {1, 2}, {k2Pow40, k2Pow40, 2});
         },
     .fragments = {"m.onnx", "node 'op' (Reshape)", "64-bit"},
     .reason = "Reshape's target element count overflowing int64"},
    {.name = "OnnxExpandOverflow",
     .make =
         [](const std::string& dir) {
           return shape_op_case(dir, "Expand", {1, 1}, {k2Pow40, k2Pow40});
         },
     .fragments = {"m.onnx", "node 'op' (Expand)", "64-bit"},
     .reason = "Expand to a shape whose element count overflows"},
    {.name = "OnnxPadOverflow",
     .make =
         [](const std::string& dir) {
           return shape_op_case(dir, "Pad", {1, 2}, {0, 0, 0, INT64_MAX - 1});
         },
     .fragments = {"m.onnx", "node 'op' (Pad)", "64-bit"},
     .reason = "Pad's dim + pads overflowing int64"},
    {.name = "OnnxConcatSumOverflows",
     .make =
         [](const std::string& dir) {
           auto model = make_model();
           const int64_t half = int64_t{1} << 62;  // uint8: the inputs' bytes fit, their sum does not
           add_tensor_value(model.mutable_graph()->mutable_input(), "a", {half}, onnx::TensorProto::UINT8);
           add_tensor_value(model.mutable_graph()->mutable_input(), "b", {half}, onnx::TensorProto::UINT8);
           add_any_output(model, "y");
           auto* concat = add_node(model, "Concat", {"a", "b"}, {"y"}, "concat");
           auto* axis = concat->add_attribute();
           axis->set_name("axis");
           axis->set_type(onnx::AttributeProto::INT);
           axis->set_i(0);
           return "inspect --model " + save(model, dir);
         },
     .fragments = {"m.onnx", "node 'concat' (Concat)", "64-bit"},
     .reason = "Concat's sum of dims overflowing int64"},
    {.name = "OnnxResizeScaleOverflows",
     .make =
         [](const std::string& dir) {
           auto model = make_model();
           add_tensor_value(model.mutable_graph()->mutable_input(), "x", {1, 1, 4, 4});
           add_any_output(model, "y");
           add_float_initializer(model, "scales", {4}, {1.0f, 1.0f, 1e30f, 1e30f});
           add_node(model, "Resize", {"x", "", "scales"}, {"y"}, "resize");
           return "inspect --model " + save(model, dir);
         },
     .fragments = {"m.onnx", "node 'resize' (Resize)", "scales[2]", "64-bit"},
     .reason = "a float output length cast to int64 out of range (undefined behaviour)"},
    {.name = "OnnxBenchInputShapeOverflows",
     .make =
         [](const std::string& dir) {
           return "bench --model " + save(conv_model({-1, -1, -1, -1}), dir) +
                  " --input-shape x:1,3,4294967296,4294967296 --iterations 1 --warmup 0";
         },
     .fragments = {"kestrel bench: error: ", "--input-shape", "64-bit"},
     .reason = "every command parses --input-shape with the same overflow checks"},
    {.name = "OnnxMaxArenaBytesZeroRefused",
     .make = [](const std::string& dir) { return convert_args(save(conv_model(), dir), dir) + " --max-arena-bytes 0"; },
     .exit_code = 2,
     .fragments = {"kestrel convert: error: ", "--max-arena-bytes"},
     .reason = "a limit of 0 is a flag error"},

    // --- 4. What ONNX would refuse is not silently accepted.
    {.name = "OnnxGraphWithoutOutputs",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           model.mutable_graph()->clear_output();
           return convert_args(save(model, dir), dir);
         },
     .fragments = {"m.onnx", "no outputs"},
     .reason = "a graph with no outputs converted to an empty model"},
    {.name = "OnnxIrVersion99",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           model.set_ir_version(99);
           return convert_args(save(model, dir), dir);
         },
     .fragments = {"m.onnx", "IR version 99", "not supported"},
     .reason = "an IR version from the future was accepted without a word"},
    {.name = "OnnxDefaultOpsetImportedTwice",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           auto* second = model.add_opset_import();
           second->set_domain("ai.onnx");
           second->set_version(17);
           return convert_args(save(model, dir), dir);
         },
     .fragments = {"m.onnx", "opset twice", "13", "17"},
     .reason = "two ai.onnx opset_import entries, the last one silently winning"},
    {.name = "OnnxNegativeDeclaredDim",
     .make =
         [](const std::string& dir) {
           auto model = conv_model();
           auto* shape =
               model.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
           shape->mutable_dim(2)->set_dim_value(-7);
           return convert_args(save(model, dir), dir);
         },
     .fragments = {"m.onnx", "graph input 'x'", "dim 2", "-7"},
     .reason = "a negative dim_value was treated as dynamic"},
});

}  // namespace
}  // namespace kestrel::testing
