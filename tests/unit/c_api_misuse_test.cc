// Misusing the C API returns a status and a message that names the problem;
// it never crashes, and a failed run leaves the caller's buffers alone.
#include <gtest/gtest.h>

#include <cstring>

#include <string>
#include <thread>
#include <vector>

#include "api_test_util.h"

namespace kestrel::testing {
namespace {

void expect_error(kestrel_status_t status, kestrel_status_t expected, const std::vector<std::string>& fragments) {
  EXPECT_EQ(status, expected) << kestrel_status_string(status) << ": " << kestrel_last_error();
  const std::string message = kestrel_last_error();
  for (const std::string& fragment : fragments) {
    EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
  }
}

class CApiMisuse : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_KESTREL_OK(kestrel_model_load(cnn_model("fp32").c_str(), &model_));
    ASSERT_KESTREL_OK(kestrel_model_input_info(model_, 0, &in_));
    ASSERT_KESTREL_OK(kestrel_model_output_info(model_, 0, &out_));
    ASSERT_KESTREL_OK(kestrel_session_create(model_, nullptr, &session_));
    input_.assign(in_.bytes / sizeof(float), 0.5f);
    output_.assign(out_.bytes, kSentinel);
  }
  void TearDown() override {
    kestrel_session_destroy(session_);
    kestrel_model_destroy(model_);
  }

  kestrel_tensor_t input() { return {in_.name, in_.dtype, in_.dims, in_.rank, input_.data(), in_.bytes}; }
  kestrel_tensor_t output() { return {out_.name, out_.dtype, out_.dims, out_.rank, output_.data(), out_.bytes}; }

  // Runs one input and output 0, expects the failure, and that output 0 was not written.
  void expect_run_error(const kestrel_tensor_t& in, kestrel_status_t expected,
                        const std::vector<std::string>& fragments) {
    kestrel_tensor_t out = output();
    expect_error(kestrel_session_run(session_, &in, 1, &out, 1), expected, fragments);
    EXPECT_EQ(output_, std::vector<uint8_t>(out_.bytes, kSentinel)) << "a failed run wrote the output";
  }

  static constexpr uint8_t kSentinel = 0xAB;
  kestrel_model_t* model_ = nullptr;
  kestrel_session_t* session_ = nullptr;
  kestrel_tensor_info_t in_{}, out_{};
  std::vector<float> input_;
  std::vector<uint8_t> output_;
};

TEST_F(CApiMisuse, NullHandlesAndPointers) {
  size_t count = 0;
  kestrel_model_t* model = nullptr;
  kestrel_session_t* session = nullptr;
  kestrel_tensor_info_t info;
  expect_error(kestrel_model_load(nullptr, &model), KESTREL_INVALID_ARGUMENT, {"kestrel_model_load", "path is NULL"});
  expect_error(kestrel_model_load("x.kestrel", nullptr), KESTREL_INVALID_ARGUMENT, {"out is NULL"});
  expect_error(kestrel_model_load_buffer(nullptr, 16, &model), KESTREL_INVALID_ARGUMENT, {"data is NULL"});
  expect_error(kestrel_model_input_count(nullptr, &count), KESTREL_INVALID_ARGUMENT, {"model is NULL"});
  expect_error(kestrel_model_output_count(model_, nullptr), KESTREL_INVALID_ARGUMENT, {"count is NULL"});
  expect_error(kestrel_model_input_info(nullptr, 0, &info), KESTREL_INVALID_ARGUMENT, {"model is NULL"});
  expect_error(kestrel_model_find_input(model_, nullptr, &count), KESTREL_INVALID_ARGUMENT, {"name is NULL"});
  expect_error(kestrel_model_metadata(model_, "precision", nullptr), KESTREL_INVALID_ARGUMENT, {"value is NULL"});
  expect_error(kestrel_session_create(nullptr, nullptr, &session), KESTREL_INVALID_ARGUMENT,
               {"kestrel_session_create", "model is NULL"});
  EXPECT_EQ(session, nullptr);
  kestrel_tensor_t in = input();
  kestrel_tensor_t out = output();
  expect_error(kestrel_session_run(nullptr, &in, 1, &out, 1), KESTREL_INVALID_ARGUMENT, {"session is NULL"});
  expect_error(kestrel_session_run(session_, nullptr, 1, &out, 1), KESTREL_INVALID_ARGUMENT, {"inputs is NULL"});
  expect_error(kestrel_session_run(session_, &in, 1, nullptr, 1), KESTREL_INVALID_ARGUMENT, {"outputs is NULL"});
  expect_error(kestrel_session_run_simple(nullptr), KESTREL_INVALID_ARGUMENT, {"session is NULL"});
  void* data = nullptr;
  expect_error(kestrel_session_input_buffer(session_, 0, &data, nullptr), KESTREL_INVALID_ARGUMENT, {"bytes is NULL"});
  expect_error(kestrel_session_options_set_threads(nullptr, 1), KESTREL_INVALID_ARGUMENT, {"options is NULL"});
  expect_error(kestrel_convert(nullptr), KESTREL_INVALID_ARGUMENT, {"options is NULL"});
  expect_error(kestrel_convert_options_set_model(nullptr, "m.onnx"), KESTREL_INVALID_ARGUMENT, {"options is NULL"});
  // Destroying NULL does nothing.
  kestrel_model_destroy(nullptr);
  kestrel_session_destroy(nullptr);
  kestrel_session_options_destroy(nullptr);
  kestrel_convert_options_destroy(nullptr);
}

TEST_F(CApiMisuse, WrongDimsDtypeAndByteCount) {
  kestrel_tensor_t in = input();
  const int64_t narrow[] = {1, 1, 28, 27};
  in.dims = narrow;
  expect_run_error(in, KESTREL_INVALID_ARGUMENT, {in_.name, "[1,1,28,27]", "compiled for [1,1,28,28]"});
  const int64_t flat[] = {1, 784};
  in = input();
  in.dims = flat;
  in.rank = 2;
  expect_run_error(in, KESTREL_INVALID_ARGUMENT, {"[1,784]", "[1,1,28,28]"});
  in = input();
  in.dims = nullptr;
  expect_run_error(in, KESTREL_INVALID_ARGUMENT, {in_.name, "dims is NULL with rank 4"});
  in = input();
  in.dtype = KESTREL_DTYPE_UINT8;
  expect_run_error(in, KESTREL_INVALID_ARGUMENT, {in_.name, "given as uint8", "takes float32"});
  // A C caller may store any int in the enum; write its bytes as C would.
  const int out_of_range = 1234;
  std::memcpy(&in.dtype, &out_of_range, sizeof(out_of_range));
  expect_run_error(in, KESTREL_INVALID_ARGUMENT, {"given as dtype 1234"});
  in = input();
  in.bytes -= sizeof(float);
  expect_run_error(
      in, KESTREL_INVALID_ARGUMENT,
      {in_.name, std::to_string(in_.bytes - sizeof(float)) + " bytes", "takes " + std::to_string(in_.bytes)});
  in = input();
  in.data = nullptr;
  expect_run_error(in, KESTREL_INVALID_ARGUMENT, {"data is NULL"});

  kestrel_tensor_t out = output();
  out.bytes += 1;
  in = input();
  expect_error(kestrel_session_run(session_, &in, 1, &out, 1), KESTREL_INVALID_ARGUMENT,
               {"output '" + std::string(out_.name) + "'", std::to_string(out_.bytes + 1) + " bytes"});
}

TEST_F(CApiMisuse, UnknownMissingAndRepeatedTensors) {
  kestrel_tensor_t in = input();
  in.name = "no_such_input";
  expect_run_error(in, KESTREL_NOT_FOUND, {"no input named 'no_such_input'", in_.name});

  kestrel_tensor_t out = output();
  expect_error(kestrel_session_run(session_, nullptr, 0, &out, 1), KESTREL_INVALID_ARGUMENT,
               {"input '" + std::string(in_.name) + "' is not given", "0 tensor(s) were given"});

  const kestrel_tensor_t twice[] = {input(), input()};
  expect_error(kestrel_session_run(session_, twice, 2, &out, 1), KESTREL_INVALID_ARGUMENT, {"given twice"});

  kestrel_tensor_t unnamed[] = {input(), input()};
  unnamed[0].name = unnamed[1].name = nullptr;
  expect_error(kestrel_session_run(session_, unnamed, 2, &out, 1), KESTREL_INVALID_ARGUMENT,
               {"input tensor 1 has no name", "only 1 input(s)"});

  out.name = "logits_typo";
  in = input();
  expect_error(kestrel_session_run(session_, &in, 1, &out, 1), KESTREL_NOT_FOUND, {"no output named 'logits_typo'"});
  EXPECT_EQ(output_, std::vector<uint8_t>(out_.bytes, kSentinel));
  // A correct run still works after all of that.
  out = output();
  EXPECT_KESTREL_OK(kestrel_session_run(session_, &in, 1, &out, 1));
}

TEST_F(CApiMisuse, BadIndicesKeysFilesAndOptions) {
  kestrel_tensor_info_t info;
  kestrel_quant_info_t quant;
  expect_error(kestrel_model_output_info(model_, 1, &info), KESTREL_INVALID_ARGUMENT,
               {"index 1 is out of range", "1 output(s)"});
  expect_error(kestrel_model_input_quant(model_, 7, &quant), KESTREL_INVALID_ARGUMENT, {"index 7"});
  const void* data = nullptr;
  size_t bytes = 0;
  expect_error(kestrel_session_output_buffer(session_, 3, &data, &bytes), KESTREL_INVALID_ARGUMENT,
               {"kestrel_session_output_buffer", "index 3"});
  size_t index = 0;
  expect_error(kestrel_model_find_input(model_, "nope", &index), KESTREL_NOT_FOUND, {"no input named 'nope'"});
  const char* value = nullptr;
  expect_error(kestrel_model_metadata(model_, "colour", &value), KESTREL_NOT_FOUND,
               {"no metadata key 'colour'", "precision"});
  expect_error(kestrel_model_metadata_entry(model_, 1000, &value, &value), KESTREL_INVALID_ARGUMENT, {"index 1000"});

  kestrel_model_t* model = nullptr;
  expect_error(kestrel_model_load("/nonexistent/m.kestrel", &model), KESTREL_NOT_FOUND, {"/nonexistent/m.kestrel"});
  const std::string garbage(256, 'x');
  expect_error(kestrel_model_load_buffer(garbage.data(), garbage.size(), &model), KESTREL_DATA_LOSS, {"model buffer"});
  EXPECT_EQ(model, nullptr);

  kestrel_session_options_t* options = nullptr;
  ASSERT_KESTREL_OK(kestrel_session_options_create(&options));
  expect_error(kestrel_session_options_set_threads(options, -2), KESTREL_INVALID_ARGUMENT, {"threads", "-2"});
  expect_error(kestrel_session_options_set_max_arena_bytes(options, -1), KESTREL_INVALID_ARGUMENT,
               {"max_arena_bytes", "-1"});
  // The CNN's arena is 0.2 MB, its inputs and outputs 3 KB: a limit of 8 KB refuses the session with both sizes, 0 is
  // the default limit.
  ASSERT_KESTREL_OK(kestrel_session_options_set_max_arena_bytes(options, 8192));
  kestrel_session_t* session = nullptr;
  expect_error(kestrel_session_create(model_, options, &session), KESTREL_INVALID_ARGUMENT,
               {"activation arena needs", "more than the limit of 8192 bytes", "max_arena_bytes"});
  EXPECT_EQ(session, nullptr);
  ASSERT_KESTREL_OK(kestrel_session_options_set_max_arena_bytes(options, 0));
  ASSERT_KESTREL_OK(kestrel_session_create(model_, options, &session));
  kestrel_session_destroy(session);
  kestrel_session_options_destroy(options);

  EXPECT_STREQ(kestrel_status_string(KESTREL_NOT_FOUND), "NOT_FOUND");
  EXPECT_STREQ(kestrel_status_string(static_cast<kestrel_status_t>(99)), "UNKNOWN");
  EXPECT_STREQ(kestrel_dtype_name(KESTREL_DTYPE_INT8), "int8");
  EXPECT_STREQ(kestrel_dtype_name(static_cast<kestrel_dtype_t>(8)), "undefined");  // ONNX string: not storable
  EXPECT_EQ(kestrel_dtype_size(KESTREL_DTYPE_INT64), 8u);
  EXPECT_EQ(kestrel_dtype_size(static_cast<kestrel_dtype_t>(-1)), 0u);
}

TEST_F(CApiMisuse, ConversionErrorsNameTheProblem) {
  kestrel_convert_options_t* options = nullptr;
  ASSERT_KESTREL_OK(kestrel_convert_options_create(&options));
  expect_error(kestrel_convert_options_set_precision(options, "int4"), KESTREL_INVALID_ARGUMENT,
               {"unknown precision 'int4'", "fp32, int8"});
  expect_error(kestrel_convert_options_set_input_shape(options, "input:1,x"), KESTREL_INVALID_ARGUMENT,
               {"kestrel_convert_options_set_input_shape"});
  expect_error(kestrel_convert_options_set_calibration_method(options, "median"), KESTREL_INVALID_ARGUMENT, {"median"});
  expect_error(kestrel_convert_options_set_percentile(options, 101), KESTREL_INVALID_ARGUMENT, {"101"});
  expect_error(kestrel_convert_options_set_model(options, nullptr), KESTREL_INVALID_ARGUMENT, {"NULL"});
  expect_error(kestrel_convert(options), KESTREL_INVALID_ARGUMENT, {"no model path"});

  const std::string output = scratch_dir() + "/out.kestrel";
  ASSERT_KESTREL_OK(kestrel_convert_options_set_model(options, kCnnPath.c_str()));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_output(options, output.c_str()));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_precision(options, "int8"));
  expect_error(kestrel_convert(options), KESTREL_INVALID_ARGUMENT, {kCnnPath, "calibration-data"});

  const int64_t dims[] = {4, 1, 28, 28};
  expect_error(kestrel_convert_options_set_calibration_callback(
                   options, [](void*, float*, const int64_t*, size_t) -> int64_t { return 0; }, nullptr, dims, 0),
               KESTREL_INVALID_ARGUMENT, {"rank is 0"});
  ASSERT_KESTREL_OK(kestrel_convert_options_set_calibration_callback(
      options, [](void*, float*, const int64_t*, size_t) -> int64_t { return -7; }, nullptr, dims, 4));
  expect_error(kestrel_convert(options), KESTREL_INVALID_ARGUMENT, {"calibration callback failed", "-7"});
  ASSERT_KESTREL_OK(kestrel_convert_options_set_calibration_callback(
      options, [](void*, float*, const int64_t*, size_t) -> int64_t { return 5; }, nullptr, dims, 4));
  expect_error(kestrel_convert(options), KESTREL_INVALID_ARGUMENT, {"5 rows for a batch of 4"});

  ASSERT_KESTREL_OK(kestrel_convert_options_set_model(options, "/nonexistent/model.onnx"));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_precision(options, "fp32"));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_calibration_callback(options, nullptr, nullptr, nullptr, 0));
  EXPECT_NE(kestrel_convert(options), KESTREL_OK);
  EXPECT_NE(std::string(kestrel_last_error()).find("/nonexistent/model.onnx"), std::string::npos)
      << kestrel_last_error();
  kestrel_convert_options_destroy(options);
  EXPECT_FALSE(std::filesystem::exists(output));
}

TEST(CApiLastError, IsPerThread) {
  kestrel_model_t* model = nullptr;
  ASSERT_NE(kestrel_model_load("/nonexistent/main.kestrel", &model), KESTREL_OK);
  std::string other_before, other_after;
  std::thread other([&] {
    other_before = kestrel_last_error();
    kestrel_model_t* other_model = nullptr;
    EXPECT_NE(kestrel_model_load("/nonexistent/other.kestrel", &other_model), KESTREL_OK);
    other_after = kestrel_last_error();
  });
  other.join();
  EXPECT_EQ(other_before, "");
  EXPECT_NE(other_after.find("other.kestrel"), std::string::npos) << other_after;
  const std::string mine = kestrel_last_error();
  EXPECT_NE(mine.find("main.kestrel"), std::string::npos) << mine;
  // Success leaves the last error as it was.
  size_t count = 0;
  kestrel_model_t* cnn = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_load(cnn_model("fp32").c_str(), &cnn));
  ASSERT_KESTREL_OK(kestrel_model_input_count(cnn, &count));
  EXPECT_EQ(std::string(kestrel_last_error()), mine);
  kestrel_model_destroy(cnn);
}

}  // namespace
}  // namespace kestrel::testing
