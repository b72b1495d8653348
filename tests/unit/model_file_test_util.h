// Shared by the .kestrel model-file tests: a small graph that uses every
// field of the format, a field-by-field comparison, and byte-level helpers
// for corrupting files.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "base/cpu_features.h"
#include "format/checksum.h"
#include "format/file_header.h"
#include "format/model_file.h"

namespace kestrel::testing {

template <typename T>
Tensor make_tensor(Shape shape, int seed) {
  std::vector<T> values(static_cast<size_t>(shape_size(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<T>((static_cast<int>(i) * 7 + seed) % 23 - 11);
  return Tensor::from_vector<T>(std::move(shape), values);
}

inline ValueId add_constant(Graph& graph, const std::string& name, Tensor tensor) {
  Value value{name, tensor.dtype(), tensor.shape(), true, tensor};
  return graph.add_value(std::move(value));
}

// Not runnable, but structurally valid: it exercises the format, not the ops.
inline ModelFile make_small_model() {
  ModelFile model;
  Graph& g = model.graph;
  g.name = "every-field";
  g.opset = 17;
  const ValueId x = g.add_value({"x", DType::kFloat32, {-1, 3, 4, 4}, false, std::nullopt});
  const ValueId w = add_constant(g, "w", make_tensor<float>({2, 3, 3, 3}, 1));
  Tensor half(DType::kFloat16, {2});
  half.data<uint16_t>()[0] = float_to_half(1.0f);
  half.data<uint16_t>()[1] = float_to_half(-2.0f);
  const ValueId h = add_constant(g, "h", half);
  const ValueId i8 = add_constant(g, "i8", make_tensor<int8_t>({5, 7}, 2));
  const ValueId u8 = add_constant(g, "u8", make_tensor<uint8_t>({65}, 3));
  const ValueId i64 = add_constant(g, "i64", make_tensor<int64_t>({3}, 4));
  const ValueId f64 = add_constant(g, "f64", make_tensor<double>({2, 2}, 5));
  const ValueId flag = add_constant(g, "flag", Tensor::from_vector<bool>({2}, {true, false}));
  const ValueId scalar = add_constant(g, "scalar", Tensor::scalar<int32_t>(42));
  const ValueId empty = add_constant(g, "empty", Tensor(DType::kFloat32, {0, 5}));
  const ValueId y = g.add_value({"y", DType::kFloat32, {1, 2, 4, 4}, true, std::nullopt});
  const ValueId z = g.add_value({"z", DType::kInt8, {1, 2, 4, 4}, true, std::nullopt, Layout::kNhwc});
  g.inputs = {x};
  g.outputs = {z};

  Node conv{"conv", "Conv", "", {x, w, kNoValue}, {y}, {}};
  conv.attrs.set("group", int64_t{1});
  conv.attrs.set("alpha", -0.0f);
  conv.attrs.set("auto_pad", std::string("NOTSET"));
  conv.attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv.attrs.set("weights", std::vector<float>{0.5f, -2.25f, 1e-30f});
  conv.attrs.set("tags", std::vector<std::string>{"a", "", "long tag"});
  conv.attrs.set("small", Tensor::from_vector<float>({2}, {1.5f, -3.0f}));  // inline
  conv.attrs.set("large", make_tensor<int32_t>({40}, 6));                   // weights section
  conv.attrs.set("empty_list", std::vector<int64_t>{});
  g.nodes.push_back(conv);
  g.nodes.push_back({"custom",
                     "KestrelCustom",
                     "com.kestrel",
                     {y, h, i8, u8, i64, f64, flag, scalar, empty, kNoValue},
                     {z, kNoValue},
                     {}});

  model.plan.arena_bytes = 4096;
  model.plan.value_offsets.assign(g.values.size(), -1);
  model.plan.value_offsets[static_cast<size_t>(y)] = 1024;
  g.value(w).quant = QuantParams{{0.5f, 0.25f}, {0, 3}, 0};
  g.value(z).quant = QuantParams{{0.125f}, {-4}, 0};
  model.isa = cpu_isa_name();
  model.required_features = isa_features(model.isa).value();
  model.metadata = standard_metadata("tests/every_field.onnx");
  model.metadata.emplace_back("empty", "");
  return model;
}

inline void expect_same_tensor(const Tensor& a, const Tensor& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.dtype(), b.dtype());
  EXPECT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.nbytes(), b.nbytes());
  if (a.nbytes() != 0) {
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
  }
}

// Bitwise for floats, so that -0.0 and NaN payloads count.
inline void expect_same_attribute(const AttributeValue& a, const AttributeValue& b, const std::string& what) {
  ASSERT_EQ(a.index(), b.index()) << what;
  std::visit(
      [&](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        const T& other = std::get<T>(b);
        if constexpr (std::is_same_v<T, Tensor>) {
          expect_same_tensor(value, other, what);
        } else if constexpr (std::is_same_v<T, float>) {
          EXPECT_EQ(std::bit_cast<uint32_t>(value), std::bit_cast<uint32_t>(other)) << what;  // bit-exact: NaN, -0
        } else {
          EXPECT_EQ(value, other) << what;
        }
      },
      a);
}

inline void expect_same_graph(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.opset, b.opset);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    const Value& va = a.values[i];
    const Value& vb = b.values[i];
    EXPECT_EQ(va.name, vb.name);
    EXPECT_EQ(va.dtype, vb.dtype) << va.name;
    EXPECT_EQ(va.shape, vb.shape) << va.name;
    EXPECT_EQ(va.shape_known, vb.shape_known) << va.name;
    EXPECT_EQ(va.layout, vb.layout) << va.name;
    ASSERT_EQ(va.constant.has_value(), vb.constant.has_value()) << va.name;
    if (va.constant) expect_same_tensor(*va.constant, *vb.constant, "constant " + va.name);
    EXPECT_EQ(b.find_value(va.name), va.name.empty() ? kNoValue : static_cast<ValueId>(i));
  }
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node& na = a.nodes[i];
    const Node& nb = b.nodes[i];
    EXPECT_EQ(na.name, nb.name);
    EXPECT_EQ(na.op_type, nb.op_type);
    EXPECT_EQ(na.domain, nb.domain);
    EXPECT_EQ(na.inputs, nb.inputs) << na.name;
    EXPECT_EQ(na.outputs, nb.outputs) << na.name;
    ASSERT_EQ(na.attrs.all().size(), nb.attrs.all().size()) << na.name;
    for (const auto& [name, value] : na.attrs.all()) {
      ASSERT_TRUE(nb.attrs.has(name)) << na.name << "." << name;
      expect_same_attribute(value, nb.attrs.all().at(name), na.name + "." + name);
    }
  }
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.outputs, b.outputs);
}

inline void expect_same_model(const ModelFile& a, const ModelFile& b) {
  expect_same_graph(a.graph, b.graph);
  EXPECT_EQ(a.plan.arena_bytes, b.plan.arena_bytes);
  EXPECT_EQ(a.plan.value_offsets, b.plan.value_offsets);
  for (size_t v = 0; v < a.graph.values.size() && v < b.graph.values.size(); ++v) {
    EXPECT_EQ(a.graph.values[v].quant, b.graph.values[v].quant) << a.graph.values[v].name;
  }
  EXPECT_EQ(a.isa, b.isa);
  EXPECT_EQ(a.required_features, b.required_features);
  EXPECT_EQ(a.metadata, b.metadata);
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline uint64_t read_u64(const std::vector<uint8_t>& bytes, size_t offset) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value |= static_cast<uint64_t>(bytes[offset + i]) << (8 * i);
  return value;
}

inline void write_u64(std::vector<uint8_t>& bytes, size_t offset, uint64_t value) {
  for (size_t i = 0; i < 8; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

// Recomputes the checksum after a deliberate edit, so that the edit reaches
// the checks behind it (FlatBuffers verifier, decoder) instead of the checksum.
inline void reseal(std::vector<uint8_t>& bytes) {
  if (bytes.size() < kHeaderSize) return;
  write_u64(bytes, kChecksumOffset, model_checksum(bytes.data() + kHeaderSize, bytes.size() - kHeaderSize));
}

// The bundled Fashion-MNIST CNN (models/fmnist_cnn.onnx) converted for
// input 1x1x28x28 (FP32, or INT8 calibrated on 32 test images), once per
// test process; defined in bad_inputs_model_file.cc. Throws on failure.
std::string converted_fmnist_path(bool int8);

inline StatusOr<ModelFile> load_bytes(const std::vector<uint8_t>& bytes, const std::string& label = "test.kestrel") {
  return load_model_buffer(nullptr, bytes.data(), bytes.size(), label);
}

}  // namespace kestrel::testing
