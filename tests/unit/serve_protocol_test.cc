// kestrel serve's infer request parsing (JSON tensors and the binary tensor
// data extension) and response encoding, against a made-up model signature:
// every malformed request is one clear 400 message naming the tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "serve/protocol.h"
#include "serve/tensor_values.h"

namespace kestrel::serve {
namespace {

using nlohmann::json;

// x: FP32 [1,2,3], mask: UINT8 [1,3]; y: FP32 [1,2], z: INT64 [1].
ModelSignature fixed_signature() {
  return {.inputs = {{"x", api::DType::kFloat32, {1, 2, 3}, 24}, {"mask", api::DType::kUInt8, {1, 3}, 3}},
          .outputs = {{"y", api::DType::kFloat32, {1, 2}, 8}, {"z", api::DType::kInt64, {1}, 8}},
          .max_batch = 0};
}

// x: FP32 [N,2] with N up to 4 (row_bytes per row); y: FP32 [N].
ModelSignature batched_signature() {
  return {.inputs = {{"x", api::DType::kFloat32, {4, 2}, 8}},
          .outputs = {{"y", api::DType::kFloat32, {4}, 4}},
          .max_batch = 4};
}

json fixed_request() {
  return {{"id", "r1"},
          {"inputs",
           {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 2, 3}}, {"data", {{{1, 2, 3}, {4, 5, 6.5}}}}},
            {{"name", "mask"}, {"datatype", "UINT8"}, {"shape", {1, 3}}, {"data", {0, 1, 255}}}}}};
}

std::vector<float> floats(const std::vector<std::byte>& bytes) {
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

// The request is refused with a message holding every fragment.
void expect_bad(const std::string& body, const std::vector<std::string>& fragments,
                const ModelSignature& signature = fixed_signature(),
                std::optional<std::string_view> header_length = std::nullopt) {
  const StatusOr<ParsedInferRequest> parsed = parse_infer_request(body, header_length, signature);
  ASSERT_FALSE(parsed.ok()) << body;
  EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  for (const std::string& fragment : fragments) {
    EXPECT_NE(parsed.status().message().find(fragment), std::string::npos)
        << "'" << fragment << "' not in: " << parsed.status().message();
  }
}

TEST(ServeProtocol, ParsesNestedAndFlatJsonTensors) {
  const StatusOr<ParsedInferRequest> parsed = parse_infer_request(fixed_request().dump(), {}, fixed_signature());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->id, "r1");
  EXPECT_EQ(parsed->rows, 1);
  EXPECT_EQ(floats(parsed->inputs[0]), (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
  EXPECT_EQ(parsed->inputs[1], (std::vector<std::byte>{std::byte{0}, std::byte{1}, std::byte{255}}));
  ASSERT_EQ(parsed->outputs.size(), 2u);  // no "outputs": all of them, as JSON
  EXPECT_FALSE(parsed->outputs[0].binary);
}

TEST(ServeProtocol, RefusesMalformedRequestsWithOneClearMessage) {
  expect_bad("{\"inputs\": [", {"not valid JSON"});
  expect_bad("[1, 2]", {"must be a JSON object"});
  expect_bad("{}", {"no 'inputs'"});
  json request = fixed_request();
  request["inputs"][0]["datatype"] = "FP64";
  expect_bad(request.dump(), {"input 'x'", "FP64", "FP32"});
  request = fixed_request();
  request["inputs"][0]["shape"] = {1, 3, 2};
  expect_bad(request.dump(), {"input 'x'", "[1,3,2]", "[1,2,3]"});
  request = fixed_request();
  request["inputs"].erase(1);
  expect_bad(request.dump(), {"missing input 'mask'"});
  request = fixed_request();
  request["inputs"][1]["name"] = "nope";
  expect_bad(request.dump(), {"no input 'nope'"});
  request = fixed_request();
  request["inputs"][1]["data"] = {0, 1};
  expect_bad(request.dump(), {"input 'mask'", "2 values", "needs 3"});
  request = fixed_request();
  request["inputs"][1]["data"] = {0, 1, 256};
  expect_bad(request.dump(), {"input 'mask'", "not uint8"});
  request = fixed_request();
  request["inputs"][0]["data"] = {1, 2, 3, 4, 5, "six"};
  expect_bad(request.dump(), {"input 'x'", "not float32"});
  request = fixed_request();
  request["inputs"].push_back(request["inputs"][0]);
  expect_bad(request.dump(), {"input 'x' is given twice"});
  request = fixed_request();
  request["outputs"] = {{{"name", "w"}}};
  expect_bad(request.dump(), {"no output 'w'"});
  request = fixed_request();
  request["id"] = 5;
  expect_bad(request.dump(), {"'id' must be a string"});
}

TEST(ServeProtocol, ParsesBinaryTensorData) {
  json request = fixed_request();
  request["inputs"][0].erase("data");
  request["inputs"][0]["parameters"] = {{"binary_data_size", 24}};
  request["outputs"] = {{{"name", "z"}, {"parameters", {{"binary_data", true}}}}, {{"name", "y"}}};
  const std::string header = request.dump();
  const float x[6] = {9, 8, 7, 6, 5, 4};
  std::string body = header;
  body.append(reinterpret_cast<const char*>(x), sizeof(x));
  const std::string length = std::to_string(header.size());
  const StatusOr<ParsedInferRequest> parsed = parse_infer_request(body, length, fixed_signature());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(floats(parsed->inputs[0]), (std::vector<float>{9, 8, 7, 6, 5, 4}));
  ASSERT_EQ(parsed->outputs.size(), 2u);
  EXPECT_EQ(parsed->outputs[0].index, 1u);
  EXPECT_TRUE(parsed->outputs[0].binary);
  EXPECT_FALSE(parsed->outputs[1].binary);

  expect_bad(body.substr(0, body.size() - 1), {"input 'x'", "truncated", "needs 24 bytes, 23 remain"},
             fixed_signature(), length);
  expect_bad(body + "xy", {"2 bytes of binary data follow"}, fixed_signature(), length);
  expect_bad(body, {"Inference-Header-Content-Length", "exceeds"}, fixed_signature(), "100000");
  expect_bad(body, {"'12a' is not a byte count"}, fixed_signature(), "12a");
  expect_bad(header, {"input 'x'", "without an Inference-Header-Content-Length"});
  request["inputs"][0]["parameters"]["binary_data_size"] = 20;
  const std::string wrong_size = request.dump();
  expect_bad(wrong_size + std::string(20, '\0'), {"input 'x'", "binary_data_size 20", "needs 24"}, fixed_signature(),
             std::to_string(wrong_size.size()));
}

TEST(ServeProtocol, BatchedModelsTakeAnyBatchUpToTheirMax) {
  const ModelSignature signature = batched_signature();
  EXPECT_EQ(protocol_shape(signature, signature.inputs[0]), (std::vector<int64_t>{-1, 2}));
  json request = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {3, 2}}, {"data", {1, 2, 3, 4, 5, 6}}}}}};
  const StatusOr<ParsedInferRequest> parsed = parse_infer_request(request.dump(), {}, signature);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->rows, 3);
  EXPECT_EQ(parsed->inputs[0].size(), 24u);
  request["inputs"][0]["shape"] = {5, 2};
  request["inputs"][0]["data"] = std::vector<float>(10, 0.0f);
  expect_bad(request.dump(), {"input 'x'", "batch 5", "1..4"}, signature);
  request["inputs"][0]["shape"] = {2, 3};
  request["inputs"][0]["data"] = std::vector<float>(6, 0.0f);
  expect_bad(request.dump(), {"input 'x'", "[2,3]", "[-1,2]"}, signature);
}

TEST(ServeProtocol, EncodesJsonAndBinaryOutputs) {
  ParsedInferRequest request;
  request.id = "abc";
  request.rows = 1;
  request.outputs = {{0, false}, {1, true}};
  std::vector<std::vector<std::byte>> outputs(2);
  const float y[2] = {0.5f, -1.25f};
  const int64_t z = 42;
  outputs[0].resize(sizeof(y));
  std::memcpy(outputs[0].data(), y, sizeof(y));
  outputs[1].resize(sizeof(z));
  std::memcpy(outputs[1].data(), &z, sizeof(z));
  const InferResponse response = encode_infer_response("m", "3", fixed_signature(), request, outputs);
  ASSERT_TRUE(response.header_length.has_value());
  const json header = json::parse(response.body.substr(0, *response.header_length));
  EXPECT_EQ(header["id"], "abc");
  EXPECT_EQ(header["model_name"], "m");
  EXPECT_EQ(header["model_version"], "3");
  EXPECT_EQ(header["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(header["outputs"][0]["shape"], json({1, 2}));
  EXPECT_EQ(header["outputs"][0]["data"], json({0.5, -1.25}));
  EXPECT_EQ(header["outputs"][1]["parameters"]["binary_data_size"], 8);
  ASSERT_EQ(response.body.size(), *response.header_length + 8);
  int64_t decoded = 0;
  std::memcpy(&decoded, response.body.data() + *response.header_length, sizeof(decoded));
  EXPECT_EQ(decoded, 42);

  request.outputs = {{0, false}};
  request.id.reset();
  const InferResponse json_only = encode_infer_response("m", "3", fixed_signature(), request, outputs);
  EXPECT_FALSE(json_only.header_length.has_value());
  EXPECT_FALSE(json::parse(json_only.body).contains("id"));
}

TEST(ServeProtocol, DatatypeNamesAndHalfFloats) {
  EXPECT_EQ(datatype_name(api::DType::kFloat32), "FP32");
  EXPECT_EQ(datatype_name(api::DType::kInt64), "INT64");
  EXPECT_EQ(parse_datatype("UINT8"), api::DType::kUInt8);
  EXPECT_FALSE(parse_datatype("fp32").has_value());
  for (const float value : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604644775390625e-08f, 0.333251953125f}) {
    EXPECT_EQ(half_to_float(float_to_half(value)), value) << value;
  }
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);  // overflow: inf
}

}  // namespace
}  // namespace kestrel::serve
