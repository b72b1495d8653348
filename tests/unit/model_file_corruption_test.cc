// Untrusted .kestrel files: every kind of damage gets one clear error naming
// the file and the reason, and random damage never crashes the reader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "format/kestrel_model_generated.h"
#include "model_file_test_util.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

constexpr char kLabel[] = "damaged.kestrel";

std::vector<uint8_t> small_model_bytes() {
  auto bytes = serialize_model(make_small_model());
  EXPECT_TRUE(bytes.ok()) << bytes.status().message();
  return bytes.ok() ? std::move(bytes).value() : std::vector<uint8_t>();
}

void expect_error(const std::vector<uint8_t>& bytes, StatusCode code, const std::string& expected) {
  auto loaded = load_bytes(bytes, kLabel);
  ASSERT_FALSE(loaded.ok()) << "accepted; expected: " << expected;
  const std::string& message = loaded.status().message();
  EXPECT_EQ(loaded.status().code(), code) << message;
  EXPECT_EQ(message.rfind(kLabel, 0), 0u) << "error does not start with the file name: " << message;
  EXPECT_NE(message.find(expected), std::string::npos) << message;
}

TEST(ModelFileCorruption, TruncatedFilesAreRefused) {
  const std::vector<uint8_t> bytes = small_model_bytes();
  const uint64_t weights_offset = read_u64(bytes, kWeightsOffsetOffset);
  for (size_t size : {size_t{0}, size_t{4}, size_t{8}, size_t{63}, size_t{64}, size_t{65}, size_t{200},
                      static_cast<size_t>(weights_offset), static_cast<size_t>(weights_offset + 100),
                      bytes.size() - kWeightAlignment, bytes.size() - 1}) {
    SCOPED_TRACE("truncated to " + std::to_string(size));
    expect_error(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(size)),
                 StatusCode::kDataLoss, "truncated");
  }
}

TEST(ModelFileCorruption, OtherFilesAreNotKestrelModels) {
  std::vector<uint8_t> bytes = small_model_bytes();
  bytes[1] = 'X';
  expect_error(bytes, StatusCode::kDataLoss, "not a Kestrel model file");
  expect_error({'h', 'i', '\n'}, StatusCode::kDataLoss, "not a Kestrel model file");
  const std::string onnx_path = test_model_path("mobilenet_v2.onnx");
  KESTREL_REQUIRE_FILE(onnx_path);
  auto loaded = load_model_file(onnx_path);
  EXPECT_NE(loaded.status().message().find(onnx_path + ": not a Kestrel model file"), std::string::npos)
      << loaded.status().message();
}

TEST(ModelFileCorruption, OtherFormatVersionsNameBothVersions) {
  std::vector<uint8_t> bytes = small_model_bytes();
  // Version 1 stored oneDNN's raw weight descriptors: such files are refused, naming both versions.
  bytes[kVersionOffset] = 1;
  expect_error(bytes, StatusCode::kUnimplemented,
               "format version 1; this build of Kestrel reads version 2 (convert the model again)");
  bytes[kVersionOffset] = 3;
  expect_error(bytes, StatusCode::kUnimplemented, "format version 3; this build of Kestrel reads version 2");
  bytes[kVersionOffset] = 0;
  expect_error(bytes, StatusCode::kUnimplemented, "format version 0; this build of Kestrel reads version 2");
}

TEST(ModelFileCorruption, FlippedBytesFailTheChecksum) {
  const std::vector<uint8_t> good = small_model_bytes();
  const uint64_t weights_offset = read_u64(good, kWeightsOffsetOffset);
  for (uint64_t offset :
       {uint64_t{kHeaderSize} + 20, weights_offset + 5, uint64_t{good.size() - 1}, uint64_t{kChecksumOffset}}) {
    SCOPED_TRACE("byte " + std::to_string(offset));
    std::vector<uint8_t> bytes = good;
    bytes[offset] ^= 0x10;
    expect_error(bytes, StatusCode::kDataLoss, "corrupted: checksum mismatch");
  }
}

TEST(ModelFileCorruption, InconsistentHeadersAreRefused) {
  const std::vector<uint8_t> good = small_model_bytes();
  std::vector<uint8_t> bytes = good;
  bytes.push_back(0);
  expect_error(bytes, StatusCode::kDataLoss, "trailing data");
  bytes = good;
  write_u64(bytes, kWeightsOffsetOffset, read_u64(good, kWeightsOffsetOffset) + 8);
  expect_error(bytes, StatusCode::kDataLoss, "weights section");
  bytes = good;
  write_u64(bytes, kFlatbufferSizeOffset, uint64_t{1} << 62);
  expect_error(bytes, StatusCode::kDataLoss, "model section");
  bytes = good;
  bytes[kHeaderSizeOffset] = 128;
  expect_error(bytes, StatusCode::kDataLoss, "header size 128");
}

TEST(ModelFileCorruption, MalformedFlatBuffersFailVerification) {
  const std::vector<uint8_t> good = small_model_bytes();
  for (size_t offset : {size_t{kHeaderSize} + 2, size_t{kHeaderSize} + 5}) {  // root offset, file identifier
    SCOPED_TRACE("byte " + std::to_string(offset));
    std::vector<uint8_t> bytes = good;
    bytes[offset] ^= 0x7f;
    reseal(bytes);
    expect_error(bytes, StatusCode::kDataLoss, "fails FlatBuffers verification");
  }
}

// Finds the BlobRef of constant `name` in the FlatBuffer and rewrites it.
void patch_blob(std::vector<uint8_t>& bytes, const std::string& name, int64_t offset_delta, int64_t size_delta) {
  auto loaded = load_bytes(bytes);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const Tensor& tensor = *loaded->graph.value(loaded->graph.find_value(name)).constant;
  // load_bytes realigned the data into a private copy; locate the blob by content instead.
  const uint64_t weights_offset = read_u64(bytes, kWeightsOffsetOffset);
  uint64_t blob_offset = UINT64_MAX;
  for (uint64_t at = weights_offset; at + tensor.nbytes() <= bytes.size(); at += kWeightAlignment) {
    if (std::memcmp(bytes.data() + at, tensor.raw_data(), tensor.nbytes()) == 0) {
      blob_offset = at - weights_offset;
      break;
    }
  }
  ASSERT_NE(blob_offset, UINT64_MAX);
  std::vector<uint8_t> pattern(16);
  write_u64(pattern, 0, blob_offset);
  write_u64(pattern, 8, tensor.nbytes());
  const auto found = std::search(bytes.begin() + kHeaderSize, bytes.begin() + static_cast<ptrdiff_t>(weights_offset),
                                 pattern.begin(), pattern.end());
  ASSERT_NE(found, bytes.begin() + static_cast<ptrdiff_t>(weights_offset)) << "blob ref of " << name << " not found";
  const size_t at = static_cast<size_t>(found - bytes.begin());
  write_u64(bytes, at, blob_offset + static_cast<uint64_t>(offset_delta));
  write_u64(bytes, at + 8, tensor.nbytes() + static_cast<uint64_t>(size_delta));
  reseal(bytes);
}

TEST(ModelFileCorruption, BadWeightReferencesAreRefused) {
  const std::vector<uint8_t> good = small_model_bytes();
  std::vector<uint8_t> bytes = good;
  patch_blob(bytes, "u8", 8, 0);
  expect_error(bytes, StatusCode::kDataLoss, "value #4 'u8': weight blob offset");
  bytes = good;
  patch_blob(bytes, "u8", 1 << 20, 0);
  expect_error(bytes, StatusCode::kDataLoss, "lies outside the");
  bytes = good;
  patch_blob(bytes, "u8", 0, int64_t{1} << 62);
  expect_error(bytes, StatusCode::kDataLoss, "lies outside the");
  bytes = good;
  patch_blob(bytes, "w", 0, -4);
  expect_error(bytes, StatusCode::kDataLoss, "float32[2,3,3,3] needs 216 bytes, its weight blob has 212");
}

// Builds a file around a hand-made FlatBuffer, for damage a correct writer
// cannot produce.
using ModelBuilder = std::function<flatbuffers::Offset<fb::Model>(flatbuffers::FlatBufferBuilder&)>;

std::vector<uint8_t> craft_file(const ModelBuilder& build, uint64_t weights_size = kWeightAlignment) {
  flatbuffers::FlatBufferBuilder builder;
  builder.Finish(build(builder), fb::ModelIdentifier());
  FileHeader header;
  header.flatbuffer_offset = kHeaderSize;
  header.flatbuffer_size = builder.GetSize();
  header.weights_offset = align_up(kHeaderSize + header.flatbuffer_size, kWeightAlignment);
  header.weights_size = weights_size;
  header.file_size = header.weights_offset + weights_size;
  std::vector<uint8_t> bytes(header.file_size, 0);
  std::memcpy(bytes.data() + kHeaderSize, builder.GetBufferPointer(), builder.GetSize());
  const auto encoded = encode_file_header(header);
  std::memcpy(bytes.data(), encoded.data(), encoded.size());
  reseal(bytes);
  return bytes;
}

using TensorBuilder = std::function<flatbuffers::Offset<fb::TensorData>(flatbuffers::FlatBufferBuilder&)>;

// x -> Relu -> y; each field is one way to damage it.
struct GraphParts {
  std::vector<int32_t> node_inputs{0};
  std::vector<int32_t> node_outputs{1};
  std::vector<int32_t> outputs{1};
  std::string second_name = "y";
  uint8_t second_layout = 0;
  TensorBuilder constant;  // makes x a constant
  bool with_attribute_without_value = false;
  bool with_target = true;
  std::vector<int64_t> plan_offsets;  // with a 64-byte arena
  int32_t quant_value = -100;         // no quantization parameters unless changed
  std::vector<float> quant_scales{1.0f};
};

flatbuffers::Offset<fb::Model> build_model(flatbuffers::FlatBufferBuilder& b, const GraphParts& parts) {
  const std::vector<int64_t> shape{1, 4};
  const std::vector<int64_t> constant_shape{3};  // what the valid crafted constants hold
  const auto constant = parts.constant ? parts.constant(b) : 0;
  std::vector<flatbuffers::Offset<fb::Value>> values{
      fb::CreateValueDirect(b, "x", 1, parts.constant ? &constant_shape : &shape, true, constant),
      fb::CreateValueDirect(b, parts.second_name.c_str(), 1, &shape, true, 0, parts.second_layout)};
  std::vector<flatbuffers::Offset<fb::Attribute>> attributes;
  if (parts.with_attribute_without_value) {
    const auto name = b.CreateString("alpha");
    fb::AttributeBuilder attribute(b);
    attribute.add_name(name);
    attribute.add_data_type(fb::AttributeData::FloatAttr);
    attributes.push_back(attribute.Finish());
  }
  std::vector<flatbuffers::Offset<fb::Node>> nodes{
      fb::CreateNodeDirect(b, "relu", "Relu", "", &parts.node_inputs, &parts.node_outputs, &attributes)};
  const std::vector<int32_t> inputs = parts.constant ? std::vector<int32_t>{} : std::vector<int32_t>{0};
  const auto graph = fb::CreateGraphDirect(b, "crafted", 13, &values, &nodes, &inputs, &parts.outputs);
  const auto target = parts.with_target ? fb::CreateTargetDirect(b, "generic", 0) : 0;
  const auto plan = parts.plan_offsets.empty() ? 0 : fb::CreateMemoryPlanDirect(b, 64, &parts.plan_offsets);
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::QuantParam>>> quant = 0;
  if (parts.quant_value != -100) {
    quant = b.CreateVector(std::vector<flatbuffers::Offset<fb::QuantParam>>{
        fb::CreateQuantParamDirect(b, parts.quant_value, &parts.quant_scales)});
  }
  return fb::CreateModel(b, target, graph, plan, quant);
}

std::vector<uint8_t> craft_graph(const GraphParts& parts) {
  return craft_file([&](flatbuffers::FlatBufferBuilder& b) { return build_model(b, parts); });
}

TEST(ModelFileCorruption, CraftedGraphIsValidBeforeDamage) {
  auto loaded = load_bytes(craft_graph({}));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->graph.nodes.size(), 1u);
}

TEST(ModelFileCorruption, IndicesOutOfRangeAreRefused) {
  GraphParts parts;
  parts.node_inputs = {7};
  expect_error(craft_graph(parts), StatusCode::kDataLoss,
               "node #0 'relu' (Relu) input refers to value #7, but the graph has 2 values");
  parts = {};
  parts.node_outputs = {-2};
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "output refers to value #-2");
  parts = {};
  parts.outputs = {-1};
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "graph output refers to value #-1");
  parts = {};
  parts.node_inputs = {1};  // consumes its own output
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "inconsistent graph");
  parts = {};
  parts.second_name = "x";
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "duplicate value name");
  parts = {};
  parts.second_layout = 200;
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "value #1 'y': unknown layout 200");
  parts = {};
  parts.quant_value = 2;
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "quantization parameters of value #2: no such value");
  parts = {};
  parts.quant_value = 1;
  parts.quant_scales = {std::nanf("")};
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "not a positive number");
}

TEST(ModelFileCorruption, MemoryPlansMustFitTheArena) {
  GraphParts parts;
  parts.plan_offsets = {-1, 0};
  EXPECT_TRUE(load_bytes(craft_graph(parts)).ok());
  parts.plan_offsets = {-1, 56};  // y is 16 bytes
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "places value #1 'y' (16 bytes) at offset 56");
  parts.plan_offsets = {-1, -7};
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "outside the 64-byte arena");
  parts.plan_offsets = {-1};
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "memory plan has 1 value offsets for 2 values");
}

TEST(ModelFileCorruption, MissingTablesAreRefused) {
  GraphParts parts;
  parts.with_attribute_without_value = true;
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "attribute 'alpha': attribute has no value");
  parts = {};
  parts.with_target = false;
  expect_error(craft_graph(parts), StatusCode::kDataLoss, "no target descriptor");
  expect_error(craft_file([](flatbuffers::FlatBufferBuilder& b) {
                 return fb::CreateModel(b, fb::CreateTargetDirect(b, "generic", 0));
               }),
               StatusCode::kDataLoss, "no graph");
}

TensorBuilder blob_tensor(int32_t dtype, std::vector<int64_t> shape, uint64_t offset, uint64_t size) {
  return [=](flatbuffers::FlatBufferBuilder& b) {
    const fb::BlobRef blob(offset, size);
    return fb::CreateTensorDataDirect(b, dtype, &shape, &blob);
  };
}

TensorBuilder inline_tensor(int32_t dtype, std::vector<int64_t> shape, size_t size, bool also_blob) {
  return [=](flatbuffers::FlatBufferBuilder& b) {
    const std::vector<uint8_t> data(size, 1);
    const fb::BlobRef blob(0, size);
    return fb::CreateTensorDataDirect(b, dtype, &shape, also_blob ? &blob : nullptr, &data);
  };
}

TEST(ModelFileCorruption, ConstantsMustMatchTheirData) {
  const std::vector<std::pair<TensorBuilder, std::string>> cases = {
      {blob_tensor(1, {3}, 0, 12), ""},
      {inline_tensor(1, {3}, 12, false), ""},
      {blob_tensor(1, {3}, 0, 8), "value #0 'x': float32[3] needs 12 bytes, its weight blob has 8"},
      {blob_tensor(8, {3}, 0, 8), "unsupported dtype 8"},
      {blob_tensor(99, {3}, 0, 8), "unsupported dtype 99"},
      {blob_tensor(1, {-3}, 0, 8), "invalid shape [-3]"},
      {blob_tensor(1, {int64_t{1} << 40, int64_t{1} << 40}, 0, 8), "invalid shape"},
      {blob_tensor(1, {3}, 64, 12), "lies outside the 64-byte weights section"},
      {blob_tensor(1, {3}, 32, 12), "is not a multiple of 64"},
      {inline_tensor(1, {3}, 5, false), "float32[3] needs 12 bytes, inline data has 5"},
      {inline_tensor(1, {3}, 12, true), "not both"},
      {[](flatbuffers::FlatBufferBuilder& b) { return fb::CreateTensorData(b, 1); }, "not neither"},
      // Kernels read the constant, shape functions the value: a mismatch would feed them different types.
      {blob_tensor(6, {3}, 0, 12), "value #0 'x': is declared float32 [3] but its constant is int32 [3]"},
      {blob_tensor(1, {1, 3}, 0, 12), "is declared float32 [3] but its constant is float32 [1,3]"},
  };
  for (const auto& [tensor, expected] : cases) {
    SCOPED_TRACE(expected);
    GraphParts parts;
    parts.constant = tensor;
    const std::vector<uint8_t> bytes = craft_graph(parts);
    if (expected.empty()) {
      auto loaded = load_bytes(bytes);
      EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    } else {
      expect_error(bytes, StatusCode::kDataLoss, expected);
    }
  }
}

TEST(ModelFileCorruption, MissingCpuFeaturesAreNamed) {
  ModelFile model = make_small_model();
  model.isa = "avx1024_future";
  model.required_features = uint64_t{1} << 63;  // no CPU has it: the bit is not even defined yet
  const std::string path = scratch_dir() + "/future.kestrel";
  ASSERT_TRUE(write_model_file(path, model).ok());
  auto loaded = load_model_file(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(loaded.status().message().find(path + ": packed for avx1024_future; it requires CPU features"),
            std::string::npos)
      << loaded.status().message();
  EXPECT_NE(loaded.status().message().find("(bit 63)"), std::string::npos) << loaded.status().message();
}

// Damage at random places must give an error or a valid model, never a
// crash. Half the cases reseal the checksum so the damage reaches the
// FlatBuffers verifier and the decoder.
TEST(ModelFileFuzz, RandomDamageNeverCrashes) {
  const std::vector<uint8_t> good = small_model_bytes();
  const uint32_t seed = 20261126;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  int accepted = 0, refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<uint8_t> bytes = good;
    const size_t at = std::uniform_int_distribution<size_t>(0, good.size() - 1)(rng);
    if (trial % 4 == 3) {
      bytes.resize(at);
    } else {
      bytes[at] ^= static_cast<uint8_t>(std::uniform_int_distribution<int>(1, 255)(rng));
    }
    if (trial % 2 == 1) reseal(bytes);
    auto loaded = load_bytes(bytes, kLabel);
    if (loaded.ok()) {
      ++accepted;
      EXPECT_TRUE(loaded->graph.verify().ok()) << "trial " << trial;
      volatile uint8_t sink = 0;  // reads every constant byte: wrapped views must stay in bounds
      for (const Value& value : loaded->graph.values) {
        if (!value.constant) continue;
        const auto* data = static_cast<const uint8_t*>(value.constant->raw_data());
        for (size_t i = 0; i < value.constant->nbytes(); ++i) sink = sink ^ data[i];
      }
    } else {
      ++refused;
      EXPECT_EQ(loaded.status().message().rfind(kLabel, 0), 0u) << loaded.status().message();
    }
  }
  std::printf("[ fuzz ] seed %u: %d damaged files refused, %d still valid\n", seed, refused, accepted);
  EXPECT_GT(refused, 200);
}

}  // namespace
}  // namespace kestrel::testing
