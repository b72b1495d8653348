// convert_model, the library form of `kestrel convert`: FP32, INT8 with the
// caller's calibration batches, and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "convert/converter.h"
#include "format/model_file.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "test_paths.h"
#include "unit/op_test_util.h"

namespace kestrel::testing {
namespace {

const std::string kCnn = source_path("models/fmnist_cnn.onnx");

TEST(Converter, Int8FromCallerBatches) {
  KESTREL_REQUIRE_FILE(kCnn);
  auto dataset = open_dataset(fashion_mnist_path("train-images-idx3-ubyte.gz"), "", 64);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  auto spec = read_preprocess_file(source_path("models/fmnist_cnn.preprocess.json"));
  ASSERT_TRUE(spec.ok());
  int64_t next = 0, calls = 0;
  ConvertOptions options{.model = kCnn, .output = scratch_dir() + "/cnn_int8.kestrel", .precision = Precision::kInt8};
  options.calibration_batch_shape = {8, 1, 28, 28};
  options.calibration_source = [&](Tensor& batch) -> StatusOr<int64_t> {
    ++calls;
    if (next >= (*dataset)->size()) return int64_t{0};
    int64_t rows = 0;
    for (; rows < batch.dim(0) && next < (*dataset)->size(); ++rows, ++next) {
      KESTREL_ASSIGN_OR_RETURN(Example example, (*dataset)->get(next));
      KESTREL_RETURN_IF_ERROR(preprocess_image(*spec, example.image, batch.data<float>() + rows * 28 * 28));
    }
    return rows;
  };
  auto report = convert_model(options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(calls, 9);  // 8 batches of 8, then the end
  EXPECT_EQ(report->quantization.quantized.size(), 6u);
  // The error report: every quantized conv, the quantized input and the
  // logits, worst own SQNR first; float outputs (the last conv, the logits)
  // have no own quantization error and come last.
  ASSERT_EQ(report->layer_errors.size(), 8u);
  for (size_t i = 0; i < report->layer_errors.size(); ++i) {
    const LayerError& error = report->layer_errors[i];
    SCOPED_TRACE(error.node);
    if (i > 0) {
      EXPECT_GE(error.own_sqnr_db, report->layer_errors[i - 1].own_sqnr_db);
    }
    const bool quantized = error.dtype != "float32";
    EXPECT_EQ(std::isinf(error.own_sqnr_db), !quantized);
    if (quantized) {
      EXPECT_GT(error.own_sqnr_db, 25.0);  // a well-calibrated 8-bit grid: ~30-50 dB
    }
    EXPECT_GT(error.sqnr_db, 20.0);
    EXPECT_LT(error.sqnr_db, 80.0);  // the int8 network is never exact
    EXPECT_GT(error.cosine, 0.99);
  }
  auto file = load_model_file(options.output);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(count_ops(file->graph, "QFusedConv"), 6);
  int quantized_values = 0;
  for (const Value& value : file->graph.values) quantized_values += value.quant.has_value();
  EXPECT_GT(quantized_values, 12);  // activations, weights and biases keep their scales
}

TEST(Converter, ErrorsNameTheProblem) {
  KESTREL_REQUIRE_FILE(kCnn);
  const std::string out = scratch_dir() + "/x.kestrel";
  auto missing = convert_model({.model = kCnn, .output = out, .precision = Precision::kInt8});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("needs --calibration-data"), std::string::npos);

  ConvertOptions failing{.model = kCnn, .output = out, .precision = Precision::kInt8};
  failing.calibration_batch_shape = {4, 1, 28, 28};
  failing.calibration_source = [](Tensor&) -> StatusOr<int64_t> { return invalid_argument("camera unplugged"); };
  auto failed = convert_model(failing);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("camera unplugged"), std::string::npos) << failed.status().message();

  failing.calibration_source = [](Tensor&) -> StatusOr<int64_t> { return int64_t{0}; };
  failed = convert_model(failing);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("gave no images"), std::string::npos) << failed.status().message();
  EXPECT_FALSE(parse_precision("int4").ok());
}

}  // namespace
}  // namespace kestrel::testing
