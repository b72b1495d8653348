#include "io/preprocess.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace kestrel {
namespace {

const std::set<std::string> kKeys = {"resize", "color", "scale", "mean", "std", "layout"};

// Source coordinate of output pixel `dst` for half-pixel-centre sampling, as
// PyTorch's F.interpolate(align_corners=False) computes it (float math).
float half_pixel_source(int64_t dst, float scale) {
  return std::max((static_cast<float>(dst) + 0.5f) * scale - 0.5f, 0.0f);
}

void resize_bilinear(const float* src, int64_t in_h, int64_t in_w, float* dst, int64_t out_h, int64_t out_w) {
  const float scale_h = static_cast<float>(in_h) / static_cast<float>(out_h);
  const float scale_w = static_cast<float>(in_w) / static_cast<float>(out_w);
  for (int64_t y = 0; y < out_h; ++y) {
    const float sy = half_pixel_source(y, scale_h);
    const int64_t y0 = std::min(static_cast<int64_t>(sy), in_h - 1);
    const int64_t y1 = std::min(y0 + 1, in_h - 1);
    const float wy1 = sy - static_cast<float>(y0);
    const float wy0 = 1.0f - wy1;
    for (int64_t x = 0; x < out_w; ++x) {
      const float sx = half_pixel_source(x, scale_w);
      const int64_t x0 = std::min(static_cast<int64_t>(sx), in_w - 1);
      const int64_t x1 = std::min(x0 + 1, in_w - 1);
      const float wx1 = sx - static_cast<float>(x0);
      const float wx0 = 1.0f - wx1;
      dst[y * out_w + x] = wy0 * (wx0 * src[y0 * in_w + x0] + wx1 * src[y0 * in_w + x1]) +
                           wy1 * (wx0 * src[y1 * in_w + x0] + wx1 * src[y1 * in_w + x1]);
    }
  }
}

void resize_nearest(const float* src, int64_t in_h, int64_t in_w, float* dst, int64_t out_h, int64_t out_w) {
  for (int64_t y = 0; y < out_h; ++y) {
    const int64_t sy = std::min(y * in_h / out_h, in_h - 1);
    for (int64_t x = 0; x < out_w; ++x) dst[y * out_w + x] = src[sy * in_w + std::min(x * in_w / out_w, in_w - 1)];
  }
}

Status read_floats(const nlohmann::json& json, const char* key, std::vector<float>& values, const std::string& label) {
  if (!json.contains(key)) return {};
  if (!json[key].is_array() || json[key].empty()) return invalid_argument(label, ": '", key, "' must be a list of numbers");
  values.clear();
  for (const auto& item : json[key]) {
    if (!item.is_number()) return invalid_argument(label, ": '", key, "' must be a list of numbers");
    values.push_back(item.get<float>());
  }
  return {};
}

Status read_resize(const nlohmann::json& resize, PreprocessSpec& spec, const std::string& label) {
  if (resize.is_null()) return {};
  const auto& size = resize.value("size", nlohmann::json());
  if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() || !size[1].is_number_integer() ||
      size[0].get<int64_t>() <= 0 || size[1].get<int64_t>() <= 0) {
    return invalid_argument(label, ": resize.size must be [height, width] with positive integers");
  }
  spec.resize_height = size[0].get<int64_t>();
  spec.resize_width = size[1].get<int64_t>();
  spec.resize_mode = resize.value("mode", "bilinear");
  if (spec.resize_mode != "bilinear" && spec.resize_mode != "nearest") {
    return invalid_argument(label, ": resize.mode '", spec.resize_mode, "' is not bilinear or nearest");
  }
  if (resize.value("antialias", false)) return unimplemented(label, ": resize.antialias is not supported yet");
  return {};
}

}  // namespace

StatusOr<PreprocessSpec> parse_preprocess_json(const std::string& text, const std::string& label) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const std::exception& error) {
    return invalid_argument(label, ": not valid JSON: ", error.what());
  }
  if (!json.is_object()) return invalid_argument(label, ": must be a JSON object");
  for (const auto& item : json.items()) {
    if (!kKeys.count(item.key())) return invalid_argument(label, ": unknown key '", item.key(), "'");
  }
  PreprocessSpec spec;
  try {
    if (json.contains("resize")) KESTREL_RETURN_IF_ERROR(read_resize(json["resize"], spec, label));
    spec.color = json.value("color", "grey");
    spec.scale = json.value("scale", 1.0f);
    if (json.value("layout", "NCHW") != "NCHW") return unimplemented(label, ": only layout NCHW is supported yet");
  } catch (const std::exception& error) {
    return invalid_argument(label, ": ", error.what());
  }
  if (spec.color != "grey" && spec.color != "rgb" && spec.color != "bgr") {
    return invalid_argument(label, ": color '", spec.color, "' is not grey, rgb or bgr");
  }
  KESTREL_RETURN_IF_ERROR(read_floats(json, "mean", spec.mean, label));
  KESTREL_RETURN_IF_ERROR(read_floats(json, "std", spec.std, label));
  const size_t channels = static_cast<size_t>(output_channels(spec));
  for (auto* values : {&spec.mean, &spec.std}) {
    if (values->size() == 1) values->resize(channels, values->front());
    if (values->size() != channels) {
      return invalid_argument(label, ": mean and std need 1 or ", channels, " values for color '", spec.color, "'");
    }
  }
  for (float s : spec.std) {
    if (s == 0.0f) return invalid_argument(label, ": std must not be 0");
  }
  return spec;
}

StatusOr<PreprocessSpec> read_preprocess_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) return not_found(path, ": cannot open file");
  std::stringstream text;
  text << file.rdbuf();
  return parse_preprocess_json(text.str(), path);
}

int64_t output_channels(const PreprocessSpec& spec) { return spec.color == "grey" ? 1 : 3; }

void preprocess_grey_image(const PreprocessSpec& spec, const uint8_t* src, int64_t height, int64_t width,
                           float* dst) {
  std::vector<float> scaled(static_cast<size_t>(height * width));
  for (int64_t i = 0; i < height * width; ++i) scaled[static_cast<size_t>(i)] = static_cast<float>(src[i]) * spec.scale;
  const int64_t out_h = spec.resize_height ? spec.resize_height : height;
  const int64_t out_w = spec.resize_width ? spec.resize_width : width;
  std::vector<float> plane(static_cast<size_t>(out_h * out_w));
  if (out_h == height && out_w == width) plane = scaled;
  else if (spec.resize_mode == "nearest") resize_nearest(scaled.data(), height, width, plane.data(), out_h, out_w);
  else resize_bilinear(scaled.data(), height, width, plane.data(), out_h, out_w);
  const int64_t channels = output_channels(spec);
  for (int64_t c = 0; c < channels; ++c) {
    const float mean = spec.mean[static_cast<size_t>(c)];
    const float std = spec.std[static_cast<size_t>(c)];
    float* channel = dst + c * out_h * out_w;
    for (int64_t i = 0; i < out_h * out_w; ++i) channel[i] = (plane[static_cast<size_t>(i)] - mean) / std;
  }
}

}  // namespace kestrel
