// The header-only C++ wrapper (include/kestrel/kestrel.hpp): RAII handles,
// exceptions that carry the status, std::span tensors, conversion with a
// std::function calibration source.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "api_test_util.h"
#include "kestrel/kestrel.hpp"

namespace kestrel::testing {
namespace {

namespace kx = kestrel::api;

// Expects `body` to throw kx::Error with `status` and every fragment in what().
template <typename Body>
void expect_api_error(Body&& body, kestrel_status_t status, const std::vector<std::string>& fragments) {
  try {
    body();
    ADD_FAILURE() << "no kestrel::api::Error thrown";
  } catch (const kx::Error& error) {
    EXPECT_EQ(error.status(), status) << error.status_name() << ": " << error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << fragment << " not in " << error.what();
    }
  }
}

TEST(CppApi, DescribesAndRunsWithSpans) {
  const kx::Model model = kx::Model::load(cnn_model("int8"));
  const std::vector<kx::TensorInfo> inputs = model.inputs();
  const std::vector<kx::TensorInfo> outputs = model.outputs();
  ASSERT_EQ(inputs.size(), 1u);
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(inputs[0].dtype, kx::DType::kFloat32);
  EXPECT_EQ(inputs[0].shape, (std::vector<int64_t>{1, 1, 28, 28}));
  EXPECT_FALSE(inputs[0].quant.has_value());
  EXPECT_EQ(model.find_output(outputs[0].name), 0u);
  EXPECT_EQ(model.metadata("precision"), "int8");
  EXPECT_EQ(model.metadata("no such key"), std::nullopt);
  EXPECT_EQ(model.metadata().back().first, "isa");

  kx::Session session(model, {.threads = 1});
  ReferenceRunner reference(cnn_model("int8"));
  const std::vector<std::vector<float>> images = cnn_inputs(3);
  ASSERT_EQ(images.size(), 3u);
  for (const std::vector<float>& image : images) {
    std::vector<float> logits(outputs[0].bytes / sizeof(float));
    const kx::Tensor in[] = {{inputs[0].name.c_str(), inputs[0].shape, image}};
    kx::Tensor out[] = {{outputs[0].name.c_str(), outputs[0].shape, logits}};
    session.run(in, out);
    const std::vector<uint8_t> expected = reference.run(image);
    ASSERT_EQ(expected.size(), logits.size() * sizeof(float));
    EXPECT_EQ(std::memcmp(expected.data(), logits.data(), expected.size()), 0);

    // Session-owned buffers: the same result with no copies.
    std::span<float> own_input = session.input_buffer_as<float>(0);
    std::copy(image.begin(), image.end(), own_input.begin());
    session.run();
    const std::span<const std::byte> own_output = session.output_buffer(0);
    EXPECT_EQ(std::memcmp(expected.data(), own_output.data(), expected.size()), 0);
  }
}

TEST(CppApi, ErrorsCarryTheStatusAndTheMessage) {
  expect_api_error([] { kx::Model::load("/nonexistent/cnn.kestrel"); }, KESTREL_NOT_FOUND,
                   {"/nonexistent/cnn.kestrel"});
  const kx::Model model = kx::Model::load(cnn_model("fp32"));
  expect_api_error([&] { model.find_input("pixels"); }, KESTREL_NOT_FOUND, {"no input named 'pixels'"});
  expect_api_error([&] { model.output(4); }, KESTREL_INVALID_ARGUMENT, {"index 4"});
  kx::Session session(model);
  const kx::TensorInfo in = model.input(0);
  std::vector<float> small(10);
  const int64_t shape[] = {1, 10};
  const kx::Tensor wrong[] = {{in.name.c_str(), shape, small}};
  expect_api_error([&] { session.run(wrong, {}); }, KESTREL_INVALID_ARGUMENT, {in.name, "[1,10]", "[1,1,28,28]"});
  std::vector<uint8_t> bytes(in.bytes);
  const kx::Tensor wrong_dtype[] = {{in.name.c_str(), in.shape, bytes}};
  expect_api_error([&] { session.run(wrong_dtype, {}); }, KESTREL_INVALID_ARGUMENT, {"given as uint8"});
  expect_api_error([] { kx::Model::load_buffer({}); }, KESTREL_INVALID_ARGUMENT, {"data is NULL"});
  try {
    model.find_output("x");
  } catch (const kx::Error& error) {
    EXPECT_STREQ(error.status_name(), "NOT_FOUND");
  }
}

TEST(CppApi, HandlesAreMoveOnlyAndSessionsOutliveTheirModel) {
  static_assert(!std::is_copy_constructible_v<kx::Model> && std::is_nothrow_move_constructible_v<kx::Model>);
  static_assert(!std::is_copy_constructible_v<kx::Session> && std::is_nothrow_move_constructible_v<kx::Session>);
  std::ifstream file(cnn_model("fp32"), std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::optional<kx::Session> session;
  std::vector<int64_t> shape;
  {
    kx::Model loaded = kx::Model::load_buffer(std::as_bytes(std::span(bytes)));
    kx::Model model = std::move(loaded);
    EXPECT_EQ(loaded.get(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is what this checks
    // A moved-from handle is NULL to the C API: an error, not a crash.
    expect_api_error([&] { loaded.input_count(); }, KESTREL_INVALID_ARGUMENT, {"model is NULL"});
    session.emplace(model);
    shape = model.input(0).shape;
  }  // the model is gone; the session keeps its graph and weights
  kx::Session moved = std::move(*session);
  std::vector<float> input(784, 0.25f);
  const kx::Tensor in[] = {{nullptr, shape, input}};
  moved.run(in, {});
  EXPECT_EQ(moved.output_buffer_as<float>(0).size(), 10u);
  expect_api_error([&] { session->run(); }, KESTREL_INVALID_ARGUMENT, {"session is NULL"});
}

struct CameraUnplugged : std::runtime_error {
  CameraUnplugged() : std::runtime_error("camera unplugged") {}
};

TEST(CppApi, ConvertsWithACalibrationSourceAndRethrowsItsExceptions) {
  const std::vector<std::vector<float>> images = cnn_inputs(kCalibrationImages);
  ASSERT_EQ(images.size(), static_cast<size_t>(kCalibrationImages));
  size_t next = 0;
  kx::ConvertOptions options{.model = kCnnPath, .output = scratch_dir() + "/cnn.kestrel", .precision = "int8"};
  options.calibration_batch_shape = {8, 1, 28, 28};
  options.calibration_source = [&](std::span<float> batch, std::span<const int64_t> dims) -> int64_t {
    int64_t rows = 0;
    const size_t per_image = batch.size() / static_cast<size_t>(dims[0]);
    for (; rows < dims[0] && next < images.size(); ++rows, ++next) {
      std::copy(images[next].begin(), images[next].end(), batch.begin() + static_cast<ptrdiff_t>(rows * per_image));
    }
    return rows;
  };
  kx::convert(options);
  EXPECT_EQ(next, images.size());
  EXPECT_EQ(kx::Model::load(options.output).metadata("precision"), "int8");

  options.calibration_source = [](std::span<float>, std::span<const int64_t>) -> int64_t { throw CameraUnplugged(); };
  EXPECT_THROW(kx::convert(options), CameraUnplugged);
  options.calibration_source = nullptr;
  options.precision = "int4";
  expect_api_error([&] { kx::convert(options); }, KESTREL_INVALID_ARGUMENT, {"int4"});
}

TEST(CppApi, QuantizedTensorsDescribeTheirScales) {
  const std::string path = scratch_dir() + "/quantized_io.kestrel";
  ASSERT_TRUE(write_model_file(path, quantized_io_model()).ok());
  const kx::Model model = kx::Model::load(path);
  const kx::TensorInfo x = model.input(0);
  ASSERT_TRUE(x.quant.has_value());
  EXPECT_EQ(x.dtype, kx::DType::kUInt8);
  EXPECT_EQ(x.quant->scales, std::vector<float>{0.5f});
  EXPECT_EQ(x.quant->zero_points, std::vector<int64_t>{10});
  EXPECT_FALSE(model.output(0).quant.has_value());
  EXPECT_EQ(model.output(1).quant->axis, 1);
  EXPECT_STREQ(kx::dtype_name(model.output(1).dtype), "int8");
  kx::Session session(model);
  std::vector<uint8_t> pixels{10, 12, 0, 255, 11, 9};
  std::vector<int8_t> z(6);
  const std::vector<int64_t> z_shape = model.output(1).shape;
  const kx::Tensor in[] = {{"x", x.shape, pixels}};
  kx::Tensor out[] = {{"z", z_shape, z}};
  session.run(in, out);
  EXPECT_EQ(z, (std::vector<int8_t>{-3, 2, -1, 127, 1, 4}));
}

}  // namespace
}  // namespace kestrel::testing
