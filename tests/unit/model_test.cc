// Models on real Fashion-MNIST test images give the logits of another
// runtime: the bundled CNN and the trained models of ../shared/models give
// ONNX Runtime 1.30's (tests/data/reference/, made by
// scripts/reference/make_reference.sh); the ResNet-50 and MobileNetV2 the
// suite makes itself give PyTorch's, computed when they were made
// (scripts/make_test_models.py, the same images and preprocessing).
#include <gtest/gtest.h>

#include <cmath>

#include "frontend/onnx/onnx_importer.h"
#include "io/idx.h"
#include "io/npy.h"
#include "io/preprocess.h"
#include "runtime/interpreter.h"
#include "test_paths.h"

namespace kestrel::testing {
namespace {

constexpr float kMaxAbsDiff = 1e-3f;
constexpr int64_t kImages = 8;

const char kRgb224Spec[] = R"({"resize": {"size": [224, 224], "mode": "bilinear", "antialias": false},
  "color": "rgb", "scale": 0.00392156862745098,
  "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "NCHW"})";

Tensor preprocess_test_images(const PreprocessSpec& spec) {
  auto images = read_idx(fashion_mnist_path("t10k-images-idx3-ubyte.gz"), kImages);
  KESTREL_CHECK_OK(images);
  const int64_t h = spec.resize_height ? spec.resize_height : 28, w = spec.resize_width ? spec.resize_width : 28;
  const int64_t c = output_channels(spec);
  Tensor batch(DType::kFloat32, {kImages, c, h, w});
  for (int64_t i = 0; i < kImages; ++i) {
    preprocess_grey_image(spec, images->data<uint8_t>() + i * 28 * 28, 28, 28, batch.data<float>() + i * c * h * w);
  }
  return batch;
}

void expect_reference_logits(const std::string& model_path, const PreprocessSpec& spec, const std::string& reference) {
  KESTREL_REQUIRE_FILE(model_path);
  KESTREL_REQUIRE_FILE(reference);
  auto expected = read_npy(reference);
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  auto graph = import_onnx_file(model_path);
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  auto shared_graph = std::make_shared<const Graph>(std::move(graph).value());
  auto interpreter = Interpreter::create(shared_graph);
  ASSERT_TRUE(interpreter.ok()) << interpreter.status().message();
  auto outputs = interpreter->run({{shared_graph->value(shared_graph->inputs[0]).name, preprocess_test_images(spec)}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  const Tensor& logits = (*outputs)[0];
  ASSERT_EQ(logits.shape(), expected->shape());
  float max_diff = 0;
  for (int64_t i = 0; i < logits.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(logits.data<float>()[i] - expected->data<float>()[i]));
  }
  std::printf("%s: max abs diff vs %s = %g\n", model_path.c_str(), reference.c_str(), max_diff);
  EXPECT_LT(max_diff, kMaxAbsDiff);
}

TEST(Model, BundledFashionMnistCnnMatchesOnnxRuntime) {
  auto spec = read_preprocess_file(source_path("models/fmnist_cnn.preprocess.json"));
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  expect_reference_logits(source_path("models/fmnist_cnn.onnx"), *spec,
                          source_path("tests/data/reference/fmnist_cnn.logits.npy"));
}

TEST(Model, ResNet50MatchesPyTorch) {
  auto spec = parse_preprocess_json(kRgb224Spec, "rgb224");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  expect_reference_logits(test_model_path("resnet50.onnx"), *spec, test_model_path("resnet50.torch_logits.npy"));
}

TEST(Model, MobileNetV2MatchesPyTorch) {
  auto spec = parse_preprocess_json(kRgb224Spec, "rgb224");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  expect_reference_logits(test_model_path("mobilenet_v2.onnx"), *spec,
                          test_model_path("mobilenet_v2.torch_logits.npy"));
}

TEST(TrainedModel, ResNet50MatchesOnnxRuntime) {
  auto spec = parse_preprocess_json(kRgb224Spec, "rgb224");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  expect_reference_logits(trained_model_path("resnet50_fmnist.onnx"), *spec,
                          source_path("tests/data/reference/resnet50_fmnist.logits.npy"));
}

TEST(TrainedModel, MobileNetV2MatchesOnnxRuntime) {
  auto spec = parse_preprocess_json(kRgb224Spec, "rgb224");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  expect_reference_logits(trained_model_path("mobilenet_v2_fmnist.onnx"), *spec,
                          source_path("tests/data/reference/mobilenet_v2_fmnist.logits.npy"));
}

}  // namespace
}  // namespace kestrel::testing
