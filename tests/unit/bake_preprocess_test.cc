// convert --bake-preprocess: a model fed raw uint8 frames gives what the
// unbaked model gives on the same frames preprocessed on the host (FP32: to
// float rounding; INT8: within one output step), border pixels included
// (a zero-padded conv after a resize and crop); BGR, planar and NV12 frames
// equal the RGB frame they encode; and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "convert/converter.h"
#include "format/model_file.h"
#include "io/preprocess.h"
#include "kestrel/kestrel.hpp"
#include "test_seed.h"
#include "unit/api_test_util.h"
#include "unit/cli_test_util.h"
#include "unit/onnx_test_models.h"
#include "unit/test_images.h"

namespace kestrel::testing {
namespace {

std::string write_text(const std::string& name, const std::string& text) {
  std::string path = api_model_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// x [N,3,16,16] -> conv 3x3 (zero padding: the border pixels' outputs read
// the padding) -> GlobalAveragePool -> Flatten -> classifier -> logits [N,5].
std::string rgb_model() {
  auto model = make_model(13);
  add_tensor_value(model.mutable_graph()->mutable_input(), "image", {-1, 3, 16, 16});
  add_tensor_value(model.mutable_graph()->mutable_output(), "logits", {-1, 5});
  add_relu_pattern_conv(model, "conv", "image", "c", 3, 8, 3, 0.4f);
  add_node(model, "GlobalAveragePool", {"c"}, {"pooled"}, "pool");
  add_node(model, "Flatten", {"pooled"}, {"flat"}, "flatten");
  add_test_classifier(model, "flat");
  std::string path = api_model_dir() + "/rgb16.onnx";
  save_model(model, path);
  return path;
}

// Resize the shorter side to 20, crop the centre 16x16, ImageNet normalisation.
const std::string kRgbSpec =
    R"({"resize": {"shorter_side": 20}, "center_crop": [16, 16], "color": "rgb", "scale": 0.00392156862745098,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})";

std::vector<float> run_float(const std::string& path, const std::vector<int64_t>& dims, std::vector<float> input) {
  const api::Model model = api::Model::load(path);
  api::Session session(model, {.threads = 1});
  std::vector<float> out(model.output(0).bytes / sizeof(float));
  const std::vector<int64_t> out_dims = model.output(0).shape;
  const api::Tensor inputs[] = {{nullptr, dims, input}};
  api::Tensor outputs[] = {{nullptr, out_dims, out}};
  session.run(inputs, outputs);
  return out;
}

std::vector<float> run_frame(const std::string& path, std::vector<uint8_t> frame) {
  const api::Model model = api::Model::load(path);
  EXPECT_EQ(model.input(0).dtype, api::DType::kUInt8);
  api::Session session(model, {.threads = 1});
  std::vector<float> out(model.output(0).bytes / sizeof(float));
  const std::vector<int64_t> in_dims = model.input(0).shape, out_dims = model.output(0).shape;
  const api::Tensor inputs[] = {{nullptr, in_dims, frame}};
  api::Tensor outputs[] = {{nullptr, out_dims, out}};
  session.run(inputs, outputs);
  return out;
}

void expect_near(const std::vector<float>& a, const std::vector<float>& b, float tolerance, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tolerance) << what << " element " << i;
}

TEST(BakePreprocess, GreyFramesGiveTheUnbakedModelsResultsFp32AndInt8) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  const auto images = cnn_inputs(8);  // host-preprocessed, as eval feeds them
  auto dataset = open_dataset(train_images(), "", 8);
  ASSERT_TRUE(dataset.ok()) << dataset.status().message();
  for (const std::string precision : {"fp32", "int8"}) {
    SCOPED_TRACE(precision);
    const std::string baked = api_model_dir() + "/cnn_baked_" + precision + ".kestrel";
    ConvertOptions options{.model = kCnnPath, .output = baked, .bake = {.spec_path = kCnnPreprocess}};
    if (precision == "int8") {
      options.precision = Precision::kInt8;
      options.calibration_data = train_images();  // preprocessed with the baked spec
      options.calibration_count = kCalibrationImages;
    }
    auto report = convert_model(options);
    ASSERT_TRUE(report.ok()) << report.status().message();
    auto file = load_model_file(baked);
    ASSERT_TRUE(file.ok());
    int quantize_nodes = 0;
    for (const Node& node : file->graph.nodes) quantize_nodes += node.op_type == "QuantizeLinear";
    EXPECT_EQ(file->graph.nodes.front().op_type, kPreprocessFrameOp);
    EXPECT_EQ(quantize_nodes, 0) << "the input's QuantizeLinear is folded into the frame stage";
    const api::Model model = api::Model::load(baked);
    EXPECT_EQ(model.input(0).shape, (std::vector<int64_t>{1, 28, 28, 1}));
    const float tolerance =
        precision == "int8" ? model.output(0).quant ? model.output(0).quant->scales[0] : 0.05f : 1e-5f;
    for (int64_t i = 0; i < 8; ++i) {
      auto example = (*dataset)->get(i);
      ASSERT_TRUE(example.ok());
      const std::vector<float> expected = run_float(cnn_model(precision), {1, 1, 28, 28}, images[i]);
      const std::vector<float> got = run_frame(baked, example->image.pixels);
      expect_near(got, expected, precision == "int8" ? std::max(tolerance, 0.05f) : tolerance,
                  precision + " image " + std::to_string(i));
    }
  }
}

TEST(BakePreprocess, ResizeCropAndBordersMatchHostPreprocessingInEveryFrameFormat) {
  const std::string onnx = rgb_model();
  const std::string spec_path = write_text("rgb16.json", kRgbSpec);
  auto spec = read_preprocess_file(spec_path);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  const std::string plain = api_model_dir() + "/rgb16.kestrel";
  ASSERT_TRUE(convert_model({.model = onnx, .output = plain}).ok());
  // A 24x30 RGB frame with structure at its borders: the crop keeps 16x16 of the 20x25 resize.
  const int64_t h = 24, w = 30;
  const uint32_t seed = test_seed();
  std::mt19937 random(seed);
  std::vector<uint8_t> rgb(static_cast<size_t>(h * w * 3));
  for (auto& v : rgb) v = static_cast<uint8_t>(random() % 256);
  std::vector<float> host(3 * 16 * 16);
  ASSERT_TRUE(preprocess_image(*spec, rgb.data(), h, w, 3, host.data()).ok());
  const std::vector<float> expected = run_float(plain, {1, 3, 16, 16}, host);

  struct Case {
    std::string format, layout;
    std::vector<uint8_t> frame;
  };
  std::vector<uint8_t> bgr(rgb.size()), planar(rgb.size());
  for (int64_t i = 0; i < h * w; ++i) {
    for (int64_t c = 0; c < 3; ++c) {
      bgr[i * 3 + c] = rgb[i * 3 + 2 - c];
      planar[c * h * w + i] = rgb[i * 3 + c];
    }
  }
  for (const Case& test : {Case{"rgb8", "nhwc", rgb}, Case{"bgr8", "nhwc", bgr}, Case{"rgb8", "nchw", planar}}) {
    SCOPED_TRACE(test.format + " " + test.layout + ", seed " + std::to_string(seed));
    const std::string baked = api_model_dir() + "/rgb16_" + test.format + test.layout + ".kestrel";
    auto report = convert_model(
        {.model = onnx,
         .output = baked,
         .bake = {.spec_path = spec_path, .format = test.format, .layout = test.layout, .height = h, .width = w}});
    ASSERT_TRUE(report.ok()) << report.status().message();
    expect_near(run_frame(baked, test.frame), expected, 1e-5f, test.format);
  }
}

// BT.601 full range, computed here in double.
void reference_yuv_to_rgb(int y, int u, int v, uint8_t* rgb) {
  const double values[3] = {y + 1.402 * (v - 128), y - 0.344136 * (u - 128) - 0.714136 * (v - 128),
                            y + 1.772 * (u - 128)};
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(std::clamp(std::lround(values[c]), 0L, 255L));
}

TEST(BakePreprocess, Nv12FramesAreBt601FullRange) {
  uint8_t rgb[3];
  nv12_to_rgb(128, 128, 128, rgb);
  EXPECT_EQ(std::vector<int>(rgb, rgb + 3), (std::vector<int>{128, 128, 128}));
  nv12_to_rgb(255, 128, 255, rgb);  // red pushed past 255 saturates
  EXPECT_EQ(std::vector<int>(rgb, rgb + 3), (std::vector<int>{255, 164, 255}));
  nv12_to_rgb(0, 0, 0, rgb);
  EXPECT_EQ(std::vector<int>(rgb, rgb + 3), (std::vector<int>{0, 135, 0}));
  int mismatches = 0;
  for (int y = 0; y < 256; y += 5) {
    for (int u = 0; u < 256; u += 7) {
      for (int v = 0; v < 256; v += 3) {
        uint8_t got[3], want[3];
        nv12_to_rgb(static_cast<uint8_t>(y), static_cast<uint8_t>(u), static_cast<uint8_t>(v), got);
        reference_yuv_to_rgb(y, u, v, want);
        for (int c = 0; c < 3; ++c) mismatches += std::abs(got[c] - want[c]) > 1;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);  // float against double: at most one level apart

  // A baked model on an NV12 frame equals the plain model on its RGB decoding.
  const std::string onnx = rgb_model();
  const std::string spec_path = write_text("rgb16_nv12.json", kRgbSpec);
  auto spec = read_preprocess_file(spec_path);
  ASSERT_TRUE(spec.ok());
  const int64_t h = 24, w = 30;
  std::mt19937 random(test_seed());
  std::vector<uint8_t> nv12(static_cast<size_t>(h * w * 3 / 2)), decoded(static_cast<size_t>(h * w * 3));
  for (auto& v : nv12) v = static_cast<uint8_t>(random() % 256);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      const uint8_t* uv = nv12.data() + h * w + (y / 2) * w + (x / 2) * 2;
      nv12_to_rgb(nv12[y * w + x], uv[0], uv[1], decoded.data() + (y * w + x) * 3);
    }
  }
  std::vector<float> host(3 * 16 * 16);
  ASSERT_TRUE(preprocess_image(*spec, decoded.data(), h, w, 3, host.data()).ok());
  const std::string plain = api_model_dir() + "/rgb16_for_nv12.kestrel";
  ASSERT_TRUE(convert_model({.model = onnx, .output = plain}).ok());
  const std::string baked = api_model_dir() + "/rgb16_nv12.kestrel";
  auto report = convert_model(
      {.model = onnx, .output = baked, .bake = {.spec_path = spec_path, .format = "nv12", .height = h, .width = w}});
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(api::Model::load(baked).input(0).shape, (std::vector<int64_t>{1, 36, 30}));
  expect_near(run_frame(baked, nv12), run_float(plain, {1, 3, 16, 16}, host), 1e-5f, "nv12");
}

// eval and run --image feed a baked model the images as frames: the same
// predictions as the plain model with host preprocessing.
TEST(BakePreprocess, EvalAndRunFeedImagesAsFrames) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  const std::string baked = api_model_dir() + "/cnn_baked_cli.kestrel";
  ASSERT_TRUE(convert_model({.model = kCnnPath, .output = baked, .bake = {.spec_path = kCnnPreprocess}}).ok());
  const std::string data = " --dataset " + fashion_mnist_path("t10k-images-idx3-ubyte.gz") + " --labels " +
                           fashion_mnist_path("t10k-labels-idx1-ubyte.gz") + " --limit 300 --show 300";
  const CliResult plain = run_cli("eval --model " + cnn_model("fp32") + data + " --preprocess " + kCnnPreprocess);
  const CliResult frames = run_cli("eval --model " + baked + data);
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  ASSERT_EQ(frames.exit_code, 0) << frames.output;
  auto predictions = [](const std::string& output) {
    std::string lines;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("image ", 0) == 0) lines += line + "\n";
    }
    return lines;
  };
  const std::string predicted = predictions(frames.output);
  EXPECT_EQ(std::count(predicted.begin(), predicted.end(), '\n'), 300);
  EXPECT_EQ(predicted, predictions(plain.output));
  // --preprocess is not needed, and not used when given.
  const CliResult noted = run_cli("eval --model " + baked + data + " --preprocess " + kCnnPreprocess);
  EXPECT_NE(noted.output.find("has its preprocessing baked in; --preprocess"), std::string::npos) << noted.output;

  const CliResult inspect = run_cli("inspect --model " + baked);
  EXPECT_NE(inspect.output.find("baked preprocessing: gray8 frames 28x28 (NHWC) -> grey, x * 0.00392157, mean "
                                "[0.286000], std [0.353000] -> float32 [1,1,28,28]"),
            std::string::npos)
      << inspect.output;

  const std::string png = api_model_dir() + "/grey28.png";
  ASSERT_TRUE(write_png(png, pattern_image(28, 28, 1, 3)));
  const CliResult run = run_cli("run --model " + baked + " --image " + png + " --top 1");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  const CliResult host =
      run_cli("run --model " + cnn_model("fp32") + " --image " + png + " --preprocess " + kCnnPreprocess + " --top 1");
  auto result_line = [&](const std::string& output) {
    const size_t at = output.find(png + ":");
    return at == std::string::npos ? std::string("(none)") : output.substr(at, output.find('\n', at) - at);
  };
  EXPECT_EQ(result_line(run.output), result_line(host.output)) << run.output << host.output;
  EXPECT_NE(result_line(run.output), "(none)") << run.output;
  const std::string big = api_model_dir() + "/grey30.png";
  ASSERT_TRUE(write_png(big, pattern_image(30, 28, 1, 3)));
  expect_clean_error(run_cli("run --model " + baked + " --image " + big),
                     {"grey30.png", "image is 30x28, the model takes gray8 frames of 28x28"});
  const std::string colour = api_model_dir() + "/colour28.png";
  ASSERT_TRUE(write_png(colour, pattern_image(28, 28, 3, 3)));
  expect_clean_error(run_cli("run --model " + baked + " --image " + colour),
                     {"colour28.png", "a colour image cannot be a gray8 frame"});
}

TEST(BakePreprocess, BadOptionsAreOneLineErrors) {
  KESTREL_REQUIRE_FILE(kCnnPath);
  const std::string onnx = rgb_model();
  const std::string spec = write_text("rgb16_errors.json", kRgbSpec);
  const std::string out = " --output " + api_model_dir() + "/bad.kestrel";
  auto expect_error = [](const std::string& args, const std::vector<std::string>& fragments) {
    SCOPED_TRACE(args);
    expect_clean_error(run_cli(args), fragments);
  };
  expect_error(("convert --model " + onnx + out + " --bake-preprocess " + spec),
               {"resizes, so the frame size is not the model's", "--input-size H,W"});
  const std::string crop = write_text("crop16.json", R"({"center_crop": [16, 16], "color": "rgb"})");
  expect_error(("convert --model " + onnx + out + " --bake-preprocess " + crop + " --input-size 10,10"),
               {"center_crop [16,16] is larger than the image"});
  expect_error(("convert --model " + onnx + out + " --bake-preprocess " + kCnnPreprocess),
               {"into [1,1,16,16], but input 'image' is [1,3,16,16]"});
  expect_clean_error(
      run_cli("convert --model " + kCnnPath + out + " --bake-preprocess " + kCnnPreprocess + " --input-format nv12"),
      {"a colour image cannot be preprocessed with color 'grey'"});
  expect_error(
      ("convert --model " + onnx + out + " --bake-preprocess " + spec + " --input-format nv12 --input-size 25,30"),
      {"nv12 frames need an even height and width"});
  expect_error(("convert --model " + onnx + out + " --input-format rgb8"), {"are for --bake-preprocess"});
  expect_error(("convert --model " + onnx + out + " --bake-preprocess " + spec + " --input-size 24x30"),
               {"--input-size '24x30': expected H,W"});
}

}  // namespace
}  // namespace kestrel::testing
