// Pre-quantized ONNX models (ONNX Runtime's QDQ form of the trained models in ../shared/models):
// their QuantizeLinear/DequantizeLinear pairs fold into ranges, the implied
// ReLUs come back, and the result runs on Kestrel's fused int8 convs with
// predictions that follow the FP32 model.
#include <gtest/gtest.h>

#include <cmath>

#include "frontend/onnx/onnx_importer.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "passes/compile.h"
#include "passes/passes.h"
#include "passes/shape_inference.h"
#include "quant/qdq_import.h"
#include "quant/quantize_graph.h"
#include "runtime/cpu_backend.h"
#include "runtime/session.h"
#include "test_paths.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

constexpr int64_t kImages = 16;

Tensor test_images() {
  auto dataset = open_dataset(fashion_mnist_path("t10k-images-idx3-ubyte.gz"), "", kImages);
  KESTREL_CHECK_OK(dataset);
  auto spec = read_preprocess_file(source_path("models/rgb224.preprocess.json"));
  KESTREL_CHECK_OK(spec);
  Tensor batch(DType::kFloat32, {kImages, 3, 224, 224});
  for (int64_t i = 0; i < kImages; ++i) {
    auto example = (*dataset)->get(i);
    KESTREL_CHECK_OK(example);
    EXPECT_TRUE(preprocess_image(*spec, example->image, batch.data<float>() + i * 3 * 224 * 224).ok());
  }
  return batch;
}

Graph load(const std::string& path) {
  auto imported = import_onnx_file(path);
  EXPECT_TRUE(imported.ok()) << imported.status().message();
  Graph graph = std::move(imported).value();
  EXPECT_TRUE(set_input_shapes(graph, {{"input", {kImages, 3, 224, 224}}}).ok());
  return graph;
}

std::vector<float> run(const Graph& graph, const Tensor& input) {
  auto lowered = lower_for_cpu(graph);
  KESTREL_CHECK_OK(lowered);
  EXPECT_TRUE(pack_weights_for_cpu(lowered->graph).ok());
  lowered->plan.value_offsets.resize(lowered->graph.values.size(), -1);
  auto session = Session::create(std::make_shared<const Graph>(lowered->graph), lowered->plan, {.threads = 2});
  KESTREL_CHECK_OK(session);
  auto outputs = (*session)->run({{"input", input}});
  KESTREL_CHECK_OK(outputs);
  return std::vector<float>(outputs->at(0).data<float>(), outputs->at(0).data<float>() + outputs->at(0).size());
}

void check_prequantized(const std::string& quantized_model, const std::string& float_model, int convs) {
  KESTREL_REQUIRE_FILE(quantized_model);
  KESTREL_REQUIRE_FILE(float_model);
  Graph graph = load(quantized_model);
  const int pairs = count_qdq_pairs(graph);
  EXPECT_GT(pairs, convs);
  auto ranges = fold_qdq_pairs(graph);
  ASSERT_TRUE(ranges.ok()) << ranges.status().message();
  EXPECT_EQ(ranges->folded_pairs, pairs);
  EXPECT_EQ(count_qdq_pairs(graph), 0);
  EXPECT_GT(ranges->relus_added, 0);  // the quantizer had removed them
  ASSERT_TRUE(optimize_graph(graph).ok());
  QuantConfig config;
  config.defaults.method = CalibrationMethod::kMinMax;
  auto summary = quantize_graph(graph, ranges->stats, config, {.keep_float_without_stats = true});
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(static_cast<int>(summary->quantized.size()), convs);
  EXPECT_TRUE(summary->kept_float.empty());
  EXPECT_EQ(count_ops(graph, "QuantizeLinear"), 1);  // only at the input

  Graph float_graph = load(float_model);
  ASSERT_TRUE(optimize_graph(float_graph).ok());
  const Tensor input = test_images();
  const std::vector<float> fp32 = run(float_graph, input);
  const std::vector<float> int8 = run(graph, input);
  ASSERT_EQ(fp32.size(), int8.size());
  int agree = 0;
  double dot = 0, norm_a = 0, norm_b = 0;
  for (int64_t b = 0; b < kImages; ++b) {
    const float* f = &fp32[b * 10];
    const float* q = &int8[b * 10];
    agree += std::max_element(f, f + 10) - f == std::max_element(q, q + 10) - q;
  }
  for (size_t i = 0; i < fp32.size(); ++i)
    dot += fp32[i] * int8[i], norm_a += fp32[i] * fp32[i], norm_b += int8[i] * int8[i];
  EXPECT_GT(dot / std::sqrt(norm_a * norm_b), 0.98);
  EXPECT_GE(agree, kImages - 1);
}

TEST(TrainedQdqImport, ResNet50FromOnnxRuntime) {
  check_prequantized(trained_model_path("resnet50_ort_int8.onnx"), trained_model_path("resnet50_fmnist.onnx"), 53);
}

TEST(TrainedQdqImport, MobileNetV2U8S8FromOnnxRuntime) {
  check_prequantized(trained_model_path("mobilenet_v2_ort_u8s8.onnx"), trained_model_path("mobilenet_v2_fmnist.onnx"),
                     52);
}

}  // namespace
}  // namespace kestrel::testing
