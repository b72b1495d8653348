// Bad-input catalogue: .kestrel model files whose checksum is right but whose
// contents were tampered with (the checksum detects accidents, not
// tampering), and model paths that are not regular files. Each tampered
// file is the bundled Fashion-MNIST CNN, converted once, edited as a
// ModelFile and written again (the writer reseals it; its re-read checks the
// file's form, not its sense), then given to `kestrel bench`.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <mutex>

#include "bad_input_catalogue.h"
#include "convert/converter.h"
#include "format/kestrel_model_generated.h"
#include "format/model_file.h"
#include "kernels/quantized_conv.h"
#include "model_file_test_util.h"
#include "runtime/cpu_backend.h"
#include "test_paths.h"

namespace kestrel::testing {

namespace {

// The folder of the converted models, removed when the test process ends.
struct ConvertedModelsDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("kestrel_fmnist_" + std::to_string(::getpid()));
  ~ConvertedModelsDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

std::string converted_fmnist_path(bool int8) {
  static std::once_flag once[2];
  static std::string paths[2];
  static ConvertedModelsDir folder;
  const int which = int8 ? 1 : 0;
  std::call_once(once[which], [&] {
    const auto dir = folder.path;
    std::filesystem::create_directories(dir);
    ConvertOptions options{.model = source_path("models/fmnist_cnn.onnx"),
                           .output = (dir / (int8 ? "int8.kestrel" : "fp32.kestrel")).string(),
                           .input_shapes = {{"input", {1, 1, 28, 28}}}};
    if (int8) {
      options.precision = Precision::kInt8;
      options.calibration_data = fashion_mnist_path("t10k-images-idx3-ubyte.gz");
      options.preprocess = source_path("models/fmnist_cnn.preprocess.json");
      options.calibration_count = 32;
      options.error_report = false;
    }
    const auto report = convert_model(options);
    if (!report.ok()) throw std::runtime_error("cannot convert fmnist_cnn: " + report.status().message());
    paths[which] = options.output;
  });
  return paths[which];
}

namespace {

using Edit = std::function<void(ModelFile&)>;

ModelFile load_converted(bool int8) {
  auto loaded = load_model_file(converted_fmnist_path(int8));
  if (!loaded.ok()) throw std::runtime_error(loaded.status().message());
  return std::move(loaded).value();
}

Node& find_node(Graph& graph, const std::string& op_type) {
  for (Node& node : graph.nodes) {
    if (node.op_type == op_type) return node;
  }
  throw std::runtime_error("the converted CNN has no " + op_type);
}

// An intermediate activation: produced by the first node, read by a later one.
ValueId first_intermediate(const Graph& graph) { return graph.nodes.front().outputs[0]; }

// Writes the edited model as dir/m.kestrel and benchmarks it for one iteration.
std::function<std::string(const std::string&)> tampered(bool int8, Edit edit) {
  return [int8, edit = std::move(edit)](const std::string& dir) {
    ModelFile model = load_converted(int8);
    edit(model);
    const Status written = write_model_file(dir + "/m.kestrel", model);
    if (!written.ok()) throw std::runtime_error("cannot write the tampered model: " + written.message());
    return "bench --model " + dir + "/m.kestrel --iterations 1 --warmup 0";
  };
}

std::function<std::string(const std::string&)> tampered_fp32(Edit edit) { return tampered(false, std::move(edit)); }

KESTREL_BAD_INPUTS({
    {.name = "KestrelPackedLayoutKeyTampered",
     .make = tampered_fp32([](ModelFile& m) {
       find_node(m.graph, "FusedConv").attrs.set(kPackedLayoutAttr, std::string("onednn 9.9 brg:avx512_core 0"));
     }),
     .exit_code = 0,
     .fragments = {"images/s", "of 6 layers repacked their weights at load"},
     .reason = "a layout key that matches no local layout: repacked from the plain weights (was raw oneDNN structs: "
               "SIGSEGV/SIGFPE inside libdnnl)"},
    {.name = "KestrelPackedBlobWrongSize",
     .make = tampered_fp32([](ModelFile& m) {
       find_node(m.graph, "FusedConv").attrs.set(kPackedWeightsAttr, Tensor(DType::kUInt8, {100}));
     }),
     .exit_code = 0,
     .fragments = {"images/s"},
     .reason = "a packed blob whose size is not the local layout's: repacked, never read out of bounds"},
    {.name = "KestrelPackedBlobGarbage",
     .make = tampered_fp32([](ModelFile& m) {
       Node& conv = find_node(m.graph, "FusedConv");
       Tensor blob = conv.attrs.get_tensor(kPackedWeightsAttr)->clone();
       for (int64_t i = 0; i < blob.size(); ++i) blob.data<uint8_t>()[i] = static_cast<uint8_t>(i * 77 + 5);
       conv.attrs.set(kPackedWeightsAttr, std::move(blob));
     }),
     .exit_code = 0,
     .fragments = {"images/s"},
     .reason = "garbage packed bytes under the right key are numbers, not a descriptor: no crash"},
    {.name = "KestrelPackedAttributeOfWrongKind",
     .make = tampered_fp32([](ModelFile& m) {
       find_node(m.graph, "FusedConv").attrs.set(kPackedWeightsAttr, std::string("not a tensor"));
     }),
     .fragments = {"FusedConv", "packed_weights", "must be a tensor"},
     .reason = "an attribute of the wrong kind is an error, not a silent default"},
    {.name = "KestrelFlattenAxisOutOfRange",
     .make = tampered_fp32([](ModelFile& m) {
       find_node(m.graph, "FusedGemm").attrs.set("flatten_axis", int64_t{99});
     }),
     .fragments = {"FusedGemm", "flatten_axis 99"},
     .reason = "flatten_axis 99 (was a heap-buffer-overflow in fused_ops.cc, all-zero logits in Release)"},
    {.name = "KestrelRenamedActivation",
     .make = tampered_fp32([](ModelFile& m) {
       Node& node = find_node(m.graph, "FusedConv");
       const std::string activation = node.attrs.get_string("activation", "Relu");
       node.attrs.erase("activation");
       node.attrs.set("acTivation", activation);
     }),
     .fragments = {"FusedConv", "unknown attribute 'acTivation'"},
     .reason = "a renamed attribute (was ignored: the fused ReLU silently dropped)"},
    {.name = "KestrelUnknownActivation",
     .make = tampered_fp32([](ModelFile& m) {
       find_node(m.graph, "FusedConv").attrs.set("activation", std::string("Relu6"));
     }),
     .fragments = {"FusedConv", "unknown fused activation 'Relu6'"},
     .reason = "an attribute value no kernel knows"},
    {.name = "KestrelFlattenAxisAsString",
     .make = tampered_fp32([](ModelFile& m) {
       find_node(m.graph, "FusedGemm").attrs.set("flatten_axis", std::string("1"));
     }),
     .fragments = {"FusedGemm", "flatten_axis", "must be an int"},
     .reason = "a retyped attribute (a getter would fall back to its default)"},
    {.name = "KestrelConvGroupTampered",
     .make = tampered_fp32([](ModelFile& m) { find_node(m.graph, "FusedConv").attrs.set("group", int64_t{7}); }),
     .fragments = {"Conv", "group 7"},
     .reason = "a conv group count that does not divide the channels"},
    {.name = "KestrelOutputDtypeTampered",
     .make = tampered_fp32([](ModelFile& m) { m.graph.value(m.graph.outputs[0]).dtype = DType::kFloat64; }),
     .fragments = {"stored as float64", "gives float32"},
     .reason = "a tampered output dtype (returned garbage)"},
    {.name = "KestrelIntermediateShapeTampered",
     .make = tampered_fp32([](ModelFile& m) {
       Value& value = m.graph.value(first_intermediate(m.graph));
       value.shape[1] -= 1;  // smaller: the plan still fits the arena, so the writer's re-read passes
     }),
     .fragments = {"stored with shape", "the op gives"},
     .reason = "a tampered activation shape (kernels would read or write past their buffers)"},
    {.name = "KestrelHugeInputShape",
     .make = tampered_fp32([](ModelFile& m) {
       m.graph.value(m.graph.inputs[0]).shape = {1, 1, 1 << 20, 1 << 20};
       m.plan.value_offsets.assign(m.graph.values.size(), -1);
     }),
     .fragments = {"inputs and outputs take more than"},
     .reason = "a graph input of 4 TB (would be allocated at session creation)"},
    {.name = "KestrelConstantDtypeMismatch",
     .make =
         [](const std::string& dir) {
           // The writer refuses such a model, so the edit is made in the bytes, then resealed.
           std::vector<uint8_t> bytes = read_bytes(converted_fmnist_path(false));
           const fb::Model* model = fb::GetModel(bytes.data() + kHeaderSize);
           for (const fb::Value* value : *model->graph()->values()) {
             if (value->constant() != nullptr && value->dtype() == static_cast<int32_t>(DType::kFloat32)) {
               const auto* table = reinterpret_cast<const flatbuffers::Table*>(value);
               auto* dtype = const_cast<uint8_t*>(table->GetAddressOf(fb::Value::VT_DTYPE));
               flatbuffers::WriteScalar<int32_t>(dtype, static_cast<int32_t>(DType::kInt32));
               break;
             }
           }
           reseal(bytes);
           write_bytes(dir + "/m.kestrel", bytes);
           return "bench --model " + dir + "/m.kestrel --iterations 1";
         },
     .fragments = {"m.kestrel", "but its constant is"},
     .reason =
         "a value whose declared dtype differs from its constant's (kernels read one, shape functions the other)"},
    {.name = "KestrelOverlappingLiveActivations",
     .make = tampered_fp32([](ModelFile& m) {
       // Every planned value at offset 0: the first node's output is still
       // live when the next node writes its own.
       for (int64_t& offset : m.plan.value_offsets) {
         if (offset > 0) offset = 0;
       }
     }),
     .fragments = {"memory plan overlaps", "both live at"},
     .reason = "a plan whose live activations share bytes (accepted: wrong logits)"},
    {.name = "KestrelArenaOverLimit",
     .make = tampered_fp32([](ModelFile& m) { m.plan.arena_bytes = int64_t{1} << 50; }),
     .fragments = {"activation arena needs", "limit"},
     .reason = "a petabyte arena (an allocation failure at best)"},
    {.name = "KestrelQuantizedOutputTypeTampered",
     .make = tampered(true,
                      [](ModelFile& m) {
                        Node& node = find_node(m.graph, kQuantizedConvOp);
                        const std::string type = node.attrs.get_string(kOutputTypeAttr, "");
                        node.attrs.set(kOutputTypeAttr, std::string(type == "int8" ? "uint8" : "int8"));
                      }),
     .fragments = {"QFusedConv", "stored as"},
     .reason = "an int8 conv told to write another type than its output value has"},
    {.name = "KestrelFormatVersionOne",
     .make =
         [](const std::string& dir) {
           std::vector<uint8_t> bytes = read_bytes(converted_fmnist_path(false));
           bytes[kVersionOffset] = 1;
           reseal(bytes);
           write_bytes(dir + "/old.kestrel", bytes);
           return "bench --model " + dir + "/old.kestrel --iterations 1";
         },
     .fragments = {"old.kestrel", "format version 1; this build of Kestrel reads version 2"},
     .reason = "a version-1 file (raw oneDNN descriptors): refused naming both versions"},
    {.name = "KestrelModelIsFifo",
     .make =
         [](const std::string& dir) {
           ::mkfifo((dir + "/pipe.kestrel").c_str(), 0600);
           return "bench --model " + dir + "/pipe.kestrel --iterations 1";
         },
     .fragments = {"pipe.kestrel", "a FIFO"},
     .reason = "a FIFO as --model (hung)"},
    {.name = "KestrelModelIsDevZero",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_symlink("/dev/zero", dir + "/zero.kestrel");
           return "bench --model " + dir + "/zero.kestrel --iterations 1";
         },
     .fragments = {"zero.kestrel", "a character device"},
     .reason = "/dev/zero as --model (read until memory ran out)"},
    {.name = "KestrelModelIsDirectory",
     .make =
         [](const std::string& dir) {
           std::filesystem::create_directories(dir + "/m.kestrel");
           return "bench --model " + dir + "/m.kestrel --iterations 1";
         },
     .fragments = {"m.kestrel", "a directory"},
     .reason = "a directory as --model"},
});

}  // namespace
}  // namespace kestrel::testing
