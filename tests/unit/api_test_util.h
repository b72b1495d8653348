// Shared by the public-API tests: the bundled Fashion-MNIST CNN converted
// through the C API (once per test process), real preprocessed inputs, and
// a reference run through the library's own Session.
#pragma once

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/cpu_features.h"
#include "format/model_file.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "kestrel/kestrel.h"
#include "runtime/session.h"
#include "test_paths.h"

namespace kestrel::testing {

#define EXPECT_KESTREL_OK(call) EXPECT_EQ((call), KESTREL_OK) << kestrel_last_error()
#define ASSERT_KESTREL_OK(call) ASSERT_EQ((call), KESTREL_OK) << kestrel_last_error()

inline const std::string kCnnPath = source_path("models/fmnist_cnn.onnx");
inline const std::string kCnnPreprocess = source_path("models/fmnist_cnn.preprocess.json");
inline constexpr int64_t kCalibrationImages = 64;

inline std::string train_images() { return fashion_mnist_path("train-images-idx3-ubyte.gz"); }

// A directory for this process's converted models, removed at exit. Per
// process because ctest runs tests as separate processes at once.
inline const std::string& api_model_dir() {
  struct Dir {
    std::string path =
        (std::filesystem::temp_directory_path() / ("kestrel_api_test_" + std::to_string(::getpid()))).string();
    Dir() { std::filesystem::create_directories(path); }
    ~Dir() { std::filesystem::remove_all(path); }
  };
  static const Dir dir;
  return dir.path;
}

// Converts the CNN with kestrel_convert; "int8" calibrates on the first 64
// Fashion-MNIST training images (IDX file + the model's preprocessing spec).
inline std::string convert_cnn(const std::string& precision, const std::string& path) {
  kestrel_convert_options_t* options = nullptr;
  EXPECT_KESTREL_OK(kestrel_convert_options_create(&options));
  EXPECT_KESTREL_OK(kestrel_convert_options_set_model(options, kCnnPath.c_str()));
  EXPECT_KESTREL_OK(kestrel_convert_options_set_output(options, path.c_str()));
  EXPECT_KESTREL_OK(kestrel_convert_options_set_precision(options, precision.c_str()));
  if (precision == "int8") {
    EXPECT_KESTREL_OK(kestrel_convert_options_set_calibration_data(options, train_images().c_str()));
    EXPECT_KESTREL_OK(kestrel_convert_options_set_preprocess(options, kCnnPreprocess.c_str()));
    EXPECT_KESTREL_OK(kestrel_convert_options_set_calibration_count(options, kCalibrationImages));
  }
  const kestrel_status_t status = kestrel_convert(options);
  kestrel_convert_options_destroy(options);
  EXPECT_EQ(status, KESTREL_OK) << "converting " << kCnnPath << " to " << precision << ": " << kestrel_last_error();
  return path;
}

// The converted CNN (batch 1), converted on first use in this process.
inline const std::string& cnn_model(const std::string& precision) {
  static const std::string fp32 = convert_cnn("fp32", api_model_dir() + "/fmnist_cnn_fp32.kestrel");
  static const std::string int8 = convert_cnn("int8", api_model_dir() + "/fmnist_cnn_int8.kestrel");
  return precision == "int8" ? int8 : fp32;
}

// The first `count` Fashion-MNIST training images, preprocessed for the CNN.
inline std::vector<std::vector<float>> cnn_inputs(int64_t count) {
  std::vector<std::vector<float>> inputs;
  auto dataset = open_dataset(train_images(), "", count);
  auto spec = read_preprocess_file(kCnnPreprocess);
  KESTREL_CHECK_OK(dataset);
  KESTREL_CHECK_OK(spec);
  if (!dataset.ok() || !spec.ok()) return inputs;
  for (int64_t i = 0; i < (*dataset)->size(); ++i) {
    auto example = (*dataset)->get(i);
    EXPECT_TRUE(example.ok()) << example.status().message();
    if (!example.ok()) return {};
    auto size = preprocessed_size(*spec, example->image.height, example->image.width, example->image.channels);
    EXPECT_TRUE(size.ok()) << size.status().message();
    if (!size.ok()) return {};
    std::vector<float> input(static_cast<size_t>(size->channels * size->height * size->width));
    EXPECT_TRUE(preprocess_image(*spec, example->image, input.data()).ok());
    inputs.push_back(std::move(input));
  }
  return inputs;
}

// The library's own Session on the same file: what the API must reproduce
// bit for bit. One thread, no pinning.
class ReferenceRunner {
 public:
  explicit ReferenceRunner(const std::string& path) {
    auto file = load_model_file(path);
    EXPECT_TRUE(file.ok()) << file.status().message();
    if (!file.ok()) return;
    auto graph = std::make_shared<const Graph>(std::move(file->graph));
    auto session = Session::create(graph, file->plan, {.threads = 1, .pin_threads = false});
    EXPECT_TRUE(session.ok()) << session.status().message();
    if (session.ok()) session_ = std::move(session).value();
  }
  bool ok() const { return session_ != nullptr; }
  Session& session() { return *session_; }

  // Output 0's bytes for one input.
  std::vector<uint8_t> run(const std::vector<float>& input) {
    Tensor& dst = session_->input(0);
    EXPECT_EQ(dst.nbytes(), input.size() * sizeof(float));
    std::memcpy(dst.raw_data(), input.data(), dst.nbytes());
    EXPECT_TRUE(session_->run().ok());
    const Tensor& output = session_->output(0);
    const auto* bytes = static_cast<const uint8_t*>(output.raw_data());
    return std::vector<uint8_t>(bytes, bytes + output.nbytes());
  }

 private:
  std::unique_ptr<Session> session_;
};

// x: uint8 [2,3] (scale 0.5, zero point 10) -> DequantizeLinear -> y: float32
// -> per-column QuantizeLinear -> z: int8 [2,3]; outputs y and z.
inline ModelFile quantized_io_model() {
  ModelFile model;
  Graph& g = model.graph;
  g.name = "quantized-io";
  g.opset = 17;
  auto constant = [&](const std::string& name, Tensor tensor) {
    return g.add_value({name, tensor.dtype(), tensor.shape(), true, tensor});
  };
  const QuantParams x_quant{{0.5f}, {10}, 0};
  const QuantParams z_quant{{0.25f, 0.5f, 1.0f}, {-3, 0, 4}, 1};
  const ValueId x = g.add_value({"x", DType::kUInt8, {2, 3}, true, std::nullopt, Layout::kPlain, x_quant});
  const ValueId x_scale = constant("x_scale", Tensor::scalar<float>(0.5f));
  const ValueId x_zero = constant("x_zero", Tensor::scalar<uint8_t>(10));
  const ValueId y = g.add_value({"y", DType::kFloat32, {2, 3}, true, std::nullopt});
  const ValueId z_scale = constant("z_scale", Tensor::from_vector<float>({3}, z_quant.scales));
  const ValueId z_zero = constant("z_zero", Tensor::from_vector<int8_t>({3}, {-3, 0, 4}));
  const ValueId z = g.add_value({"z", DType::kInt8, {2, 3}, true, std::nullopt, Layout::kPlain, z_quant});
  g.nodes.push_back({"dequantize", "DequantizeLinear", "", {x, x_scale, x_zero}, {y}, {}});
  Node quantize{"quantize", "QuantizeLinear", "", {y, z_scale, z_zero}, {z}, {}};
  quantize.attrs.set("axis", int64_t{1});
  g.nodes.push_back(quantize);
  g.inputs = {x};
  g.outputs = {y, z};
  model.plan.value_offsets.assign(g.values.size(), -1);
  model.isa = cpu_isa_name();
  model.required_features = isa_features(model.isa).value();
  model.metadata = standard_metadata("tests/quantized_io.onnx");
  model.metadata.emplace_back("precision", "int8");
  return model;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Lets the calling thread run on every CPU the process may use. A thread
// inherits the affinity of the thread that starts it, and Session::create
// with the library's default options pins its caller to one core: without
// this, threads started by a test after such a session would all share it.
inline void unpin_current_thread() {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &all);
  // The kernel keeps the CPUs of the process's cpuset among these.
  sched_setaffinity(0, sizeof(all), &all);
}

}  // namespace kestrel::testing
