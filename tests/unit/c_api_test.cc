// The C API (include/kestrel/kestrel.h) on real models: conversion, queries,
// runs on caller-owned and session-owned buffers bit-exact with the
// library's Session, loading from memory, quantization info, and the header's
// usage examples. Misuse is in c_api_misuse_test.cc.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>

#include "api_test_util.h"
#include "test_seed.h"

namespace kestrel::testing {
namespace {

// The model's input / output `index` described as a caller buffer.
kestrel_tensor_t tensor_for(const kestrel_tensor_info_t& info, void* data) {
  return {info.name, info.dtype, info.dims, info.rank, data, info.bytes};
}

struct LoadedCnn {
  kestrel_model_t* model = nullptr;
  kestrel_tensor_info_t in{}, out{};
  ~LoadedCnn() { kestrel_model_destroy(model); }
};

void load_cnn(const std::string& precision, LoadedCnn& cnn) {
  ASSERT_KESTREL_OK(kestrel_model_load(cnn_model(precision).c_str(), &cnn.model));
  ASSERT_KESTREL_OK(kestrel_model_input_info(cnn.model, 0, &cnn.in));
  ASSERT_KESTREL_OK(kestrel_model_output_info(cnn.model, 0, &cnn.out));
}

std::vector<float> random_input(size_t elements, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(elements);
  for (float& value : values) value = dist(rng);
  return values;
}

TEST(CApi, DescribesTheConvertedModel) {
  LoadedCnn cnn;
  load_cnn("fp32", cnn);
  size_t inputs = 0, outputs = 0;
  ASSERT_KESTREL_OK(kestrel_model_input_count(cnn.model, &inputs));
  ASSERT_KESTREL_OK(kestrel_model_output_count(cnn.model, &outputs));
  EXPECT_EQ(inputs, 1u);
  EXPECT_EQ(outputs, 1u);
  EXPECT_EQ(cnn.in.dtype, KESTREL_DTYPE_FLOAT32);
  EXPECT_EQ(std::vector<int64_t>(cnn.in.dims, cnn.in.dims + cnn.in.rank), (std::vector<int64_t>{1, 1, 28, 28}));
  EXPECT_EQ(cnn.in.bytes, 28u * 28u * sizeof(float));
  EXPECT_EQ(std::vector<int64_t>(cnn.out.dims, cnn.out.dims + cnn.out.rank), (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(cnn.out.bytes, 10 * sizeof(float));

  auto file = load_model_file(cnn_model("fp32"));
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_STREQ(cnn.in.name, file->graph.value(file->graph.inputs[0]).name.c_str());
  EXPECT_STREQ(cnn.out.name, file->graph.value(file->graph.outputs[0]).name.c_str());
  size_t index = 99;
  ASSERT_KESTREL_OK(kestrel_model_find_output(cnn.model, cnn.out.name, &index));
  EXPECT_EQ(index, 0u);

  kestrel_quant_info_t quant;
  ASSERT_KESTREL_OK(kestrel_model_input_quant(cnn.model, 0, &quant));
  EXPECT_EQ(quant.quantized, 0);
  EXPECT_EQ(quant.count, 0u);
  EXPECT_EQ(quant.scales, nullptr);

  const char* value = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_metadata(cnn.model, "precision", &value));
  EXPECT_STREQ(value, "fp32");
  ASSERT_KESTREL_OK(kestrel_model_metadata(cnn.model, "isa", &value));
  EXPECT_EQ(std::string(value), cpu_isa_name());
  size_t entries = 0;
  ASSERT_KESTREL_OK(kestrel_model_metadata_count(cnn.model, &entries));
  EXPECT_GE(entries, 5u);
  const char* key = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_metadata_entry(cnn.model, entries - 1, &key, &value));
  EXPECT_STREQ(key, "isa");
}

TEST(CApi, CallerBuffersMatchTheLibrarySessionBitForBit) {
  for (const std::string precision : {"fp32", "int8"}) {
    SCOPED_TRACE(precision);
    LoadedCnn cnn;
    load_cnn(precision, cnn);
    kestrel_session_options_t* options = nullptr;
    ASSERT_KESTREL_OK(kestrel_session_options_create(&options));
    ASSERT_KESTREL_OK(kestrel_session_options_set_threads(options, 1));
    kestrel_session_t* session = nullptr;
    ASSERT_KESTREL_OK(kestrel_session_create(cnn.model, options, &session));
    kestrel_session_options_destroy(options);
    ReferenceRunner reference(cnn_model(precision));
    ASSERT_TRUE(reference.ok());

    SCOPED_TRACE(seed_trace());
    for (uint32_t i = 0; i < 4; ++i) {
      const std::vector<float> input = random_input(cnn.in.bytes / sizeof(float), test_seed() + i);
      std::vector<uint8_t> output(cnn.out.bytes, 0xAB);
      const kestrel_tensor_t in = tensor_for(cnn.in, const_cast<float*>(input.data()));
      kestrel_tensor_t out = tensor_for(cnn.out, output.data());
      ASSERT_KESTREL_OK(kestrel_session_run(session, &in, 1, &out, 1));
      EXPECT_EQ(output, reference.run(input)) << "input " << i;
    }
    kestrel_session_destroy(session);
  }
}

TEST(CApi, SessionOwnedBuffersAreUsedWithoutCopies) {
  LoadedCnn cnn;
  load_cnn("fp32", cnn);
  kestrel_session_t* session = nullptr;
  ASSERT_KESTREL_OK(kestrel_session_create(cnn.model, nullptr, &session));
  void* input = nullptr;
  const void* output = nullptr;
  size_t input_bytes = 0, output_bytes = 0;
  ASSERT_KESTREL_OK(kestrel_session_input_buffer(session, 0, &input, &input_bytes));
  ASSERT_KESTREL_OK(kestrel_session_output_buffer(session, 0, &output, &output_bytes));
  EXPECT_EQ(input_bytes, cnn.in.bytes);
  EXPECT_EQ(output_bytes, cnn.out.bytes);
  constexpr uintptr_t kAlignment = 64;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(input) % kAlignment, 0u);

  ReferenceRunner reference(cnn_model("fp32"));
  const std::vector<float> values = random_input(cnn.in.bytes / sizeof(float), test_seed());
  std::memcpy(input, values.data(), input_bytes);
  ASSERT_KESTREL_OK(kestrel_session_run_simple(session));
  const std::vector<uint8_t> expected = reference.run(values);
  const auto* bytes = static_cast<const uint8_t*>(output);
  EXPECT_EQ(std::vector<uint8_t>(bytes, bytes + output_bytes), expected);

  // kestrel_session_run given the session's own buffers: the zero-copy path.
  std::memset(const_cast<void*>(output), 0, output_bytes);
  const kestrel_tensor_t in = tensor_for(cnn.in, input);
  kestrel_tensor_t out = tensor_for(cnn.out, const_cast<void*>(output));
  ASSERT_KESTREL_OK(kestrel_session_run(session, &in, 1, &out, 1));
  EXPECT_EQ(std::vector<uint8_t>(bytes, bytes + output_bytes), expected);
  // Outputs may be left out: they stay in the session's buffer.
  ASSERT_KESTREL_OK(kestrel_session_run(session, &in, 1, nullptr, 0));
  EXPECT_EQ(std::vector<uint8_t>(bytes, bytes + output_bytes), expected);
  kestrel_session_destroy(session);
}

TEST(CApi, LoadBufferCopiesTheBytesAndSessionsOutliveTheModel) {
  std::ifstream file(cnn_model("fp32"), std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  // One byte in: an address no allocator would give, to load from unaligned memory.
  std::vector<char> shifted(bytes.size() + 1);
  std::copy(bytes.begin(), bytes.end(), shifted.begin() + 1);
  kestrel_model_t* model = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_load_buffer(shifted.data() + 1, bytes.size(), &model));
  std::fill(shifted.begin(), shifted.end(), 0);  // the model must not depend on the caller's bytes
  shifted = {};

  kestrel_session_t* session = nullptr;
  ASSERT_KESTREL_OK(kestrel_session_create(model, nullptr, &session));
  kestrel_tensor_info_t in, out;
  ASSERT_KESTREL_OK(kestrel_model_input_info(model, 0, &in));
  ASSERT_KESTREL_OK(kestrel_model_output_info(model, 0, &out));
  const std::vector<int64_t> in_dims(in.dims, in.dims + in.rank), out_dims(out.dims, out.dims + out.rank);
  const std::string in_name = in.name, out_name = out.name;
  kestrel_model_destroy(model);  // the session keeps the graph and weights

  const std::vector<float> input = random_input(in.bytes / sizeof(float), test_seed());
  std::vector<uint8_t> output(out.bytes);
  const kestrel_tensor_t in_tensor{in_name.c_str(),
                                   KESTREL_DTYPE_FLOAT32,
                                   in_dims.data(),
                                   in_dims.size(),
                                   const_cast<float*>(input.data()),
                                   input.size() * sizeof(float)};
  kestrel_tensor_t out_tensor{out_name.c_str(), KESTREL_DTYPE_FLOAT32, out_dims.data(),
                              out_dims.size(),  output.data(),         output.size()};
  ASSERT_KESTREL_OK(kestrel_session_run(session, &in_tensor, 1, &out_tensor, 1));
  ReferenceRunner reference(cnn_model("fp32"));
  EXPECT_EQ(output, reference.run(input));
  kestrel_session_destroy(session);
}

TEST(CApi, ReportsQuantizationAndRunsIntegerTensors) {
  const std::string path = scratch_dir() + "/quantized_io.kestrel";
  ASSERT_TRUE(write_model_file(path, quantized_io_model()).ok());
  kestrel_model_t* model = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_load(path.c_str(), &model));
  kestrel_quant_info_t x, y, z;
  ASSERT_KESTREL_OK(kestrel_model_input_quant(model, 0, &x));
  ASSERT_KESTREL_OK(kestrel_model_output_quant(model, 0, &y));
  ASSERT_KESTREL_OK(kestrel_model_output_quant(model, 1, &z));
  ASSERT_EQ(x.quantized, 1);
  ASSERT_EQ(x.count, 1u);
  EXPECT_EQ(x.scales[0], 0.5f);
  EXPECT_EQ(x.zero_points[0], 10);
  EXPECT_EQ(y.quantized, 0);
  ASSERT_EQ(z.count, 3u);
  EXPECT_EQ(z.axis, 1);
  EXPECT_EQ(std::vector<float>(z.scales, z.scales + 3), (std::vector<float>{0.25f, 0.5f, 1.0f}));
  EXPECT_EQ(std::vector<int64_t>(z.zero_points, z.zero_points + 3), (std::vector<int64_t>{-3, 0, 4}));

  kestrel_tensor_info_t x_info, y_info, z_info;
  ASSERT_KESTREL_OK(kestrel_model_input_info(model, 0, &x_info));
  ASSERT_KESTREL_OK(kestrel_model_output_info(model, 0, &y_info));
  ASSERT_KESTREL_OK(kestrel_model_output_info(model, 1, &z_info));
  EXPECT_EQ(x_info.dtype, KESTREL_DTYPE_UINT8);
  EXPECT_EQ(z_info.dtype, KESTREL_DTYPE_INT8);
  kestrel_session_t* session = nullptr;
  ASSERT_KESTREL_OK(kestrel_session_create(model, nullptr, &session));
  std::vector<uint8_t> x_data{10, 12, 0, 255, 11, 9};
  std::vector<float> y_data(6);
  std::vector<int8_t> z_data(6);
  // By position (name NULL) for the input, outputs by name in reverse order.
  const kestrel_tensor_t inputs[] = {{nullptr, x_info.dtype, x_info.dims, x_info.rank, x_data.data(), 6}};
  kestrel_tensor_t outputs[] = {{"z", z_info.dtype, z_info.dims, z_info.rank, z_data.data(), 6},
                                {"y", y_info.dtype, y_info.dims, y_info.rank, y_data.data(), 6 * sizeof(float)}};
  ASSERT_KESTREL_OK(kestrel_session_run(session, inputs, 1, outputs, 2));
  EXPECT_EQ(y_data, (std::vector<float>{0, 1, -5, 122.5f, 0.5f, -0.5f}));
  // round(y / scale) + zero point per column, saturated; -0.5 rounds to even (0).
  EXPECT_EQ(z_data, (std::vector<int8_t>{-3, 2, -1, 127, 1, 4}));
  kestrel_session_destroy(session);
  kestrel_model_destroy(model);
}

struct CalibrationFeed {
  std::vector<std::vector<float>> images;
  size_t next = 0;
  int calls = 0;
};

int64_t feed_batch(void* user, float* batch, const int64_t* dims, size_t rank) {
  auto* feed = static_cast<CalibrationFeed*>(user);
  ++feed->calls;
  const size_t per_image = static_cast<size_t>(dims[1] * dims[2] * dims[3]);
  if (rank != 4 || feed->images.empty() || feed->images[0].size() != per_image) return -1;
  int64_t rows = 0;
  for (; rows < dims[0] && feed->next < feed->images.size(); ++rows, ++feed->next) {
    std::copy(feed->images[feed->next].begin(), feed->images[feed->next].end(), batch + rows * per_image);
  }
  return rows;
}

TEST(CApi, ConvertsToInt8WithACalibrationCallback) {
  CalibrationFeed feed{.images = cnn_inputs(kCalibrationImages)};
  ASSERT_EQ(feed.images.size(), static_cast<size_t>(kCalibrationImages));
  const std::string output = scratch_dir() + "/cnn_int8.kestrel";
  kestrel_convert_options_t* options = nullptr;
  ASSERT_KESTREL_OK(kestrel_convert_options_create(&options));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_model(options, kCnnPath.c_str()));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_output(options, output.c_str()));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_precision(options, "int8"));
  ASSERT_KESTREL_OK(kestrel_convert_options_set_calibration_method(options, "minmax"));
  const int64_t dims[] = {16, 1, 28, 28};
  ASSERT_KESTREL_OK(kestrel_convert_options_set_calibration_callback(options, feed_batch, &feed, dims, 4));
  cpu_set_t before, after;
  ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
  ASSERT_KESTREL_OK(kestrel_convert(options));
  ASSERT_EQ(sched_getaffinity(0, sizeof(after), &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after)) << "kestrel_convert changed the calling thread's CPU affinity";
  kestrel_convert_options_destroy(options);
  EXPECT_EQ(feed.calls, 5);  // 4 batches of 16, then the end

  kestrel_model_t* model = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_load(output.c_str(), &model));
  const char* precision = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_metadata(model, "precision", &precision));
  EXPECT_STREQ(precision, "int8");
  kestrel_model_destroy(model);
}

TEST(CApi, HeaderExamplesRun) {
  const std::string model = cnn_model("fp32");
  const CommandResult c = run_command(std::string(KESTREL_C_EXAMPLE_PATH) + " " + model);
  const CommandResult cpp = run_command(std::string(KESTREL_CPP_EXAMPLE_PATH) + " " + model);
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(cpp.exit_code, 0) << cpp.output;
  EXPECT_EQ(c.output, cpp.output);
  constexpr int kClasses = 10;
  EXPECT_EQ(std::count(c.output.begin(), c.output.end(), ' '), kClasses) << c.output;
  const CommandResult missing = run_command(std::string(KESTREL_C_EXAMPLE_PATH) + " /nonexistent.kestrel");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("/nonexistent.kestrel"), std::string::npos) << missing.output;
}

double median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

struct RunTimes {
  double c_run_us = 0, c_simple_us = 0, session_us = 0;
};

// Median times of kestrel_session_run (on caller buffers), kestrel_session_run_simple
// and the library's Session::run on the same model, interleaved call by call
// so that machine noise hits all three alike.
RunTimes time_runs(kestrel_session_t* session, const std::vector<kestrel_tensor_t>& inputs,
                   std::vector<kestrel_tensor_t>& outputs, Session& library, int calls) {
  using Clock = std::chrono::steady_clock;
  constexpr int kWarmup = 200;
  std::vector<double> c_run, c_simple, session_run;
  for (int i = 0; i < kWarmup + calls; ++i) {
    const auto t0 = Clock::now();
    EXPECT_KESTREL_OK(kestrel_session_run(session, inputs.data(), inputs.size(), outputs.data(), outputs.size()));
    const auto t1 = Clock::now();
    EXPECT_KESTREL_OK(kestrel_session_run_simple(session));
    const auto t2 = Clock::now();
    EXPECT_TRUE(library.run().ok());
    const auto t3 = Clock::now();
    if (i < kWarmup) continue;
    c_run.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    c_simple.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
    session_run.push_back(std::chrono::duration<double, std::micro>(t3 - t2).count());
  }
  return {median(c_run), median(c_simple), median(session_run)};
}

void print_times(const char* what, int calls, const RunTimes& times) {
  std::printf(
      "%s, median of %d calls: kestrel_session_run %.2f us, kestrel_session_run_simple %.2f us, "
      "Session::run %.2f us (C API overhead %+.2f us / %+.2f us)\n",
      what, calls, times.c_run_us, times.c_simple_us, times.session_us, times.c_run_us - times.session_us,
      times.c_simple_us - times.session_us);
}

// A benchmark, not a test (wall-clock ratios fail on a shared machine): the
// cost of the C layer over Session::run (checks, input and output memcpy) on
// the CNN and on a two-node model where that cost is not lost in the CNN's
// run time. Disabled in the suite; bench/c_api_overhead.sh runs it.
TEST(CApiBenchmark, DISABLED_RunOverheadOverSessionRun) {
  LoadedCnn cnn;
  load_cnn("fp32", cnn);
  kestrel_session_options_t* options = nullptr;
  ASSERT_KESTREL_OK(kestrel_session_options_create(&options));
  ASSERT_KESTREL_OK(kestrel_session_options_set_threads(options, 1));
  kestrel_session_t* session = nullptr;
  ASSERT_KESTREL_OK(kestrel_session_create(cnn.model, options, &session));
  ReferenceRunner reference(cnn_model("fp32"));
  std::vector<float> input = random_input(cnn.in.bytes / sizeof(float), test_seed());
  std::vector<float> output(cnn.out.bytes / sizeof(float));
  std::vector<kestrel_tensor_t> outputs{tensor_for(cnn.out, output.data())};
  std::memcpy(reference.session().input(0).raw_data(), input.data(), cnn.in.bytes);
  constexpr int kCnnCalls = 3000;
  const RunTimes cnn_times =
      time_runs(session, {tensor_for(cnn.in, input.data())}, outputs, reference.session(), kCnnCalls);
  print_times("fmnist_cnn fp32 batch 1, 1 thread", kCnnCalls, cnn_times);
  kestrel_session_destroy(session);

  const std::string path = scratch_dir() + "/quantized_io.kestrel";
  ASSERT_TRUE(write_model_file(path, quantized_io_model()).ok());
  kestrel_model_t* tiny = nullptr;
  ASSERT_KESTREL_OK(kestrel_model_load(path.c_str(), &tiny));
  ASSERT_KESTREL_OK(kestrel_session_create(tiny, options, &session));
  kestrel_session_options_destroy(options);
  ReferenceRunner tiny_reference(path);
  kestrel_tensor_info_t x, y, z;
  ASSERT_KESTREL_OK(kestrel_model_input_info(tiny, 0, &x));
  ASSERT_KESTREL_OK(kestrel_model_output_info(tiny, 0, &y));
  ASSERT_KESTREL_OK(kestrel_model_output_info(tiny, 1, &z));
  std::vector<uint8_t> x_data(x.bytes), y_data(y.bytes), z_data(z.bytes);
  std::vector<kestrel_tensor_t> tiny_outputs{tensor_for(y, y_data.data()), tensor_for(z, z_data.data())};
  constexpr int kTinyCalls = 20000;
  const RunTimes tiny_times =
      time_runs(session, {tensor_for(x, x_data.data())}, tiny_outputs, tiny_reference.session(), kTinyCalls);
  print_times("2-node model (1 input, 2 outputs)", kTinyCalls, tiny_times);
  kestrel_session_destroy(session);
  kestrel_model_destroy(tiny);
}

// kestrel_session_run on caller buffers and kestrel_session_run_simple give
// Session::run's output bit for bit, call after call.
TEST(CApi, RunOnCallerBuffersMatchesSessionRun) {
  LoadedCnn cnn;
  load_cnn("fp32", cnn);
  kestrel_session_t* session = nullptr;
  ASSERT_KESTREL_OK(kestrel_session_create(cnn.model, nullptr, &session));
  ReferenceRunner reference(cnn_model("fp32"));
  ASSERT_TRUE(reference.ok());
  for (uint64_t call = 0; call < 3; ++call) {
    SCOPED_TRACE("call " + std::to_string(call));
    std::vector<float> input = random_input(cnn.in.bytes / sizeof(float), test_seed() + call);
    const std::vector<uint8_t> expected = reference.run(input);
    ASSERT_EQ(expected.size(), cnn.out.bytes);
    std::vector<float> output(cnn.out.bytes / sizeof(float), -1.0f);
    const kestrel_tensor_t in = tensor_for(cnn.in, input.data());
    kestrel_tensor_t out = tensor_for(cnn.out, output.data());
    ASSERT_KESTREL_OK(kestrel_session_run(session, &in, 1, &out, 1));
    EXPECT_EQ(std::memcmp(output.data(), expected.data(), expected.size()), 0);
    void* buffer = nullptr;
    const void* result = nullptr;
    size_t bytes = 0;
    ASSERT_KESTREL_OK(kestrel_session_input_buffer(session, 0, &buffer, &bytes));
    ASSERT_EQ(bytes, cnn.in.bytes);
    std::memcpy(buffer, input.data(), bytes);
    ASSERT_KESTREL_OK(kestrel_session_run_simple(session));
    ASSERT_KESTREL_OK(kestrel_session_output_buffer(session, 0, &result, &bytes));
    ASSERT_EQ(bytes, cnn.out.bytes);
    EXPECT_EQ(std::memcmp(result, expected.data(), bytes), 0);
  }
  kestrel_session_destroy(session);
}

}  // namespace
}  // namespace kestrel::testing
