#include "io/preprocess.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "base/regular_file.h"

namespace kestrel {
namespace {

const std::set<std::string> kKeys = {"resize", "center_crop", "color", "scale", "mean", "std", "layout"};
const std::set<std::string> kResizeKeys = {"size", "shorter_side", "mode", "antialias"};

// A spec is a few hundred bytes; anything near this is not a spec.
constexpr int64_t kMaxSpecBytes = int64_t{1} << 20;

// The part of the resized image that is kept (all of it without a crop).
struct Window {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// Source coordinate of output pixel `dst` for half-pixel-centre sampling, as
// PyTorch's F.interpolate(align_corners=False) computes it (float math).
float half_pixel_source(int64_t dst, float scale) {
  return std::max((static_cast<float>(dst) + 0.5f) * scale - 0.5f, 0.0f);
}

// Resizes `src` to full_h x full_w but computes only `window` of the result:
// cropping after resizing then costs nothing. The arithmetic, in PyTorch's
// order, keeps results equal to F.interpolate's to float rounding.
void resize_bilinear(const float* src, int64_t in_h, int64_t in_w, int64_t full_h, int64_t full_w, const Window& window,
                     float* dst) {
  const float scale_h = static_cast<float>(in_h) / static_cast<float>(full_h);
  const float scale_w = static_cast<float>(in_w) / static_cast<float>(full_w);
  for (int64_t y = 0; y < window.height; ++y) {
    const float sy = half_pixel_source(window.top + y, scale_h);
    const int64_t y0 = std::min(static_cast<int64_t>(sy), in_h - 1);
    const int64_t y1 = std::min(y0 + 1, in_h - 1);
    const float wy1 = sy - static_cast<float>(y0);
    const float wy0 = 1.0f - wy1;
    for (int64_t x = 0; x < window.width; ++x) {
      const float sx = half_pixel_source(window.left + x, scale_w);
      const int64_t x0 = std::min(static_cast<int64_t>(sx), in_w - 1);
      const int64_t x1 = std::min(x0 + 1, in_w - 1);
      const float wx1 = sx - static_cast<float>(x0);
      const float wx0 = 1.0f - wx1;
      dst[y * window.width + x] = wy0 * (wx0 * src[y0 * in_w + x0] + wx1 * src[y0 * in_w + x1]) +
                                  wy1 * (wx0 * src[y1 * in_w + x0] + wx1 * src[y1 * in_w + x1]);
    }
  }
}

void resize_nearest(const float* src, int64_t in_h, int64_t in_w, int64_t full_h, int64_t full_w, const Window& window,
                    float* dst) {
  for (int64_t y = 0; y < window.height; ++y) {
    const int64_t sy = std::min((window.top + y) * in_h / full_h, in_h - 1);
    for (int64_t x = 0; x < window.width; ++x) {
      dst[y * window.width + x] = src[sy * in_w + std::min((window.left + x) * in_w / full_w, in_w - 1)];
    }
  }
}

void copy_window(const float* src, int64_t in_w, const Window& window, float* dst) {
  for (int64_t y = 0; y < window.height; ++y) {
    const float* row = src + (window.top + y) * in_w + window.left;
    std::copy(row, row + window.width, dst + y * window.width);
  }
}

// The image size after `resize`; shorter_side truncates the longer side as
// torchvision's Resize(int) does.
void resized_size(const PreprocessSpec& spec, int64_t height, int64_t width, int64_t& out_h, int64_t& out_w) {
  out_h = height;
  out_w = width;
  if (spec.resize_shorter_side) {
    const int64_t side = spec.resize_shorter_side;
    if (width <= height) out_h = side * height / width, out_w = side;
    else out_h = side, out_w = side * width / height;
  } else if (spec.resize_height) {
    out_h = spec.resize_height;
    out_w = spec.resize_width;
  }
}

// round() with ties to even, as Python's round() in torchvision's CenterCrop.
int64_t half_even(int64_t twice_value) {
  return twice_value / 2 + ((twice_value % 2) && ((twice_value / 2) % 2) ? 1 : 0);
}

Window crop_window(const PreprocessSpec& spec, int64_t height, int64_t width) {
  if (!spec.crop_height) return {0, 0, height, width};
  return {half_even(height - spec.crop_height), half_even(width - spec.crop_width), spec.crop_height, spec.crop_width};
}

bool is_side(const nlohmann::json& value) {
  return value.is_number_integer() && value.get<int64_t>() > 0 && value.get<int64_t>() <= kMaxPreprocessSide;
}

// [height, width] within the side and area limits.
bool is_size_pair(const nlohmann::json& value) {
  return value.is_array() && value.size() == 2 && is_side(value[0]) && is_side(value[1]) &&
         value[0].get<int64_t>() * value[1].get<int64_t>() <= kMaxPreprocessPixels;
}

std::string size_limits() {
  return str_cat("positive integers, each at most ", kMaxPreprocessSide, " and ", kMaxPreprocessPixels,
                 " pixels in all");
}

// A JSON number as a float32: finite and within float32's range.
StatusOr<float> to_float(const nlohmann::json& value, const std::string& what, const std::string& label) {
  if (!value.is_number()) return invalid_argument(label, ": ", what, " must be a number, not ", value.dump());
  const double number = value.get<double>();
  if (!std::isfinite(number) || std::fabs(number) > std::numeric_limits<float>::max()) {
    return invalid_argument(label, ": ", what, " ", value.dump(), " is outside the range of float32");
  }
  return static_cast<float>(number);
}

Status read_floats(const nlohmann::json& json, const char* key, std::vector<float>& values, const std::string& label) {
  if (!json.contains(key)) return {};
  if (!json[key].is_array() || json[key].empty())
    return invalid_argument(label, ": '", key, "' must be a list of numbers");
  values.clear();
  for (const auto& item : json[key]) {
    KESTREL_ASSIGN_OR_RETURN(const float value, to_float(item, str_cat("'", key, "' value"), label));
    values.push_back(value);
  }
  return {};
}

// A string value, the default when absent.
StatusOr<std::string> read_string(const nlohmann::json& json, const char* key, const char* fallback,
                                  const std::string& label) {
  if (!json.contains(key)) return std::string(fallback);
  if (!json[key].is_string()) return invalid_argument(label, ": '", key, "' must be a string, not ", json[key].dump());
  return json[key].get<std::string>();
}

Status read_resize_size(const nlohmann::json& resize, PreprocessSpec& spec, const std::string& label) {
  if (resize.contains("shorter_side")) {
    if (resize.contains("size")) return invalid_argument(label, ": resize takes either size or shorter_side, not both");
    if (!is_side(resize["shorter_side"])) {
      return invalid_argument(label, ": resize.shorter_side must be a positive integer up to ", kMaxPreprocessSide);
    }
    spec.resize_shorter_side = resize["shorter_side"].get<int64_t>();
    return {};
  }
  const auto& size = resize.value("size", nlohmann::json());
  if (!is_size_pair(size)) {
    return invalid_argument(label, ": resize.size must be [height, width] with ", size_limits(), "; it is ",
                            size.dump());
  }
  spec.resize_height = size[0].get<int64_t>();
  spec.resize_width = size[1].get<int64_t>();
  return {};
}

Status read_resize(const nlohmann::json& resize, PreprocessSpec& spec, const std::string& label) {
  if (resize.is_null()) return {};
  if (!resize.is_object()) return invalid_argument(label, ": resize must be an object or null");
  for (const auto& item : resize.items()) {
    if (!kResizeKeys.count(item.key())) return invalid_argument(label, ": unknown key 'resize.", item.key(), "'");
  }
  KESTREL_RETURN_IF_ERROR(read_resize_size(resize, spec, label));
  KESTREL_ASSIGN_OR_RETURN(spec.resize_mode, read_string(resize, "mode", "bilinear", label));
  if (spec.resize_mode != "bilinear" && spec.resize_mode != "nearest") {
    return invalid_argument(label, ": resize.mode '", spec.resize_mode, "' is not bilinear or nearest");
  }
  if (resize.contains("antialias") && !resize["antialias"].is_boolean()) {
    return invalid_argument(label, ": resize.antialias must be true or false");
  }
  if (resize.value("antialias", false)) return unimplemented(label, ": resize.antialias is not supported yet");
  return {};
}

Status read_center_crop(const nlohmann::json& crop, PreprocessSpec& spec, const std::string& label) {
  if (crop.is_null()) return {};
  if (!is_size_pair(crop)) {
    return invalid_argument(label, ": center_crop must be [height, width] with ", size_limits(), ", or null; it is ",
                            crop.dump());
  }
  spec.crop_height = crop[0].get<int64_t>();
  spec.crop_width = crop[1].get<int64_t>();
  return {};
}

// mean and std: one value for every channel, or one per output channel.
Status read_normalisation(const nlohmann::json& json, PreprocessSpec& spec, const std::string& label) {
  KESTREL_RETURN_IF_ERROR(read_floats(json, "mean", spec.mean, label));
  KESTREL_RETURN_IF_ERROR(read_floats(json, "std", spec.std, label));
  const size_t channels = static_cast<size_t>(output_channels(spec));
  for (auto* values : {&spec.mean, &spec.std}) {
    if (values->size() == 1) values->resize(channels, values->front());
    if (values->size() != channels) {
      return invalid_argument(label, ": mean and std need 1 or ", channels, " values for color '", spec.color, "'");
    }
  }
  // A tiny std would send normalised values to infinity as surely as 0.
  for (float s : spec.std) {
    if (!(s >= std::numeric_limits<float>::min())) {
      return invalid_argument(label, ": std values must be positive (and at least ", std::numeric_limits<float>::min(),
                              "); one is ", s);
    }
  }
  return {};
}

Status read_scale(const nlohmann::json& json, PreprocessSpec& spec, const std::string& label) {
  if (!json.contains("scale")) return {};
  KESTREL_ASSIGN_OR_RETURN(spec.scale, to_float(json["scale"], "'scale'", label));
  if (!(spec.scale > 0.0f)) return invalid_argument(label, ": 'scale' must be positive; it is ", json["scale"].dump());
  return {};
}

// Rejects a key given twice in one object (nlohmann keeps the last one
// silently): the parser's callback sees every key as it is read.
class DuplicateKeyCheck {
 public:
  bool operator()(int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      objects_.push_back({objects_.empty() ? std::string() : objects_.back().last_key, {}, {}});
    } else if (event == Event::object_end && !objects_.empty()) {
      objects_.pop_back();
    } else if (event == Event::key && !objects_.empty()) {
      Object& object = objects_.back();
      object.last_key = parsed.get<std::string>();
      if (!object.keys.insert(object.last_key).second && duplicate_.empty()) {
        duplicate_ = object.name.empty() ? object.last_key : object.name + "." + object.last_key;
      }
    }
    return true;
  }
  const std::string& duplicate() const { return duplicate_; }

 private:
  struct Object {
    std::string name;  // the key it is the value of ("resize"), empty at the top
    std::set<std::string> keys;
    std::string last_key;
  };
  std::vector<Object> objects_;
  std::string duplicate_;
};

// Which channel of the decoded image (grey, or RGB as decoders give it) feeds
// output channel `c`.
int64_t source_channel(const PreprocessSpec& spec, int64_t image_channels, int64_t c) {
  if (image_channels == 1) return 0;
  return spec.color == "bgr" ? image_channels - 1 - c : c;
}

// Normalises the kept planes [image_channels][H*W] into the output layout.
void write_output(const PreprocessSpec& spec, const std::vector<float>& planes, int64_t image_channels,
                  const PreprocessedSize& size, float* dst) {
  const int64_t pixels = size.height * size.width;
  const bool nhwc = spec.layout == "NHWC";
  for (int64_t c = 0; c < size.channels; ++c) {
    const float* plane = planes.data() + source_channel(spec, image_channels, c) * pixels;
    const float mean = spec.mean[static_cast<size_t>(c)];
    const float std = spec.std[static_cast<size_t>(c)];
    if (nhwc) {
      for (int64_t i = 0; i < pixels; ++i) dst[i * size.channels + c] = (plane[i] - mean) / std;
    } else {
      for (int64_t i = 0; i < pixels; ++i) dst[c * pixels + i] = (plane[i] - mean) / std;
    }
  }
}

}  // namespace

StatusOr<PreprocessSpec> parse_preprocess_json(const std::string& text, const std::string& label) {
  nlohmann::json json;
  DuplicateKeyCheck duplicates;
  try {
    json = nlohmann::json::parse(text, std::ref(duplicates));
  } catch (const std::exception& error) {
    return invalid_argument(label, ": not valid JSON: ", error.what());
  }
  if (!duplicates.duplicate().empty()) {
    return invalid_argument(label, ": key '", duplicates.duplicate(), "' is given twice");
  }
  if (!json.is_object()) return invalid_argument(label, ": must be a JSON object");
  for (const auto& item : json.items()) {
    if (!kKeys.count(item.key())) return invalid_argument(label, ": unknown key '", item.key(), "'");
  }
  PreprocessSpec spec;
  try {
    if (json.contains("resize")) KESTREL_RETURN_IF_ERROR(read_resize(json["resize"], spec, label));
    if (json.contains("center_crop")) KESTREL_RETURN_IF_ERROR(read_center_crop(json["center_crop"], spec, label));
    KESTREL_ASSIGN_OR_RETURN(spec.color, read_string(json, "color", "grey", label));
    KESTREL_ASSIGN_OR_RETURN(spec.layout, read_string(json, "layout", "NCHW", label));
    KESTREL_RETURN_IF_ERROR(read_scale(json, spec, label));
  } catch (const std::exception& error) {
    return invalid_argument(label, ": ", error.what());
  }
  if (spec.color != "grey" && spec.color != "rgb" && spec.color != "bgr") {
    return invalid_argument(label, ": color '", spec.color, "' is not grey, rgb or bgr");
  }
  if (spec.layout != "NCHW" && spec.layout != "NHWC") {
    return invalid_argument(label, ": layout '", spec.layout, "' is not NCHW or NHWC");
  }
  KESTREL_RETURN_IF_ERROR(read_normalisation(json, spec, label));
  return spec;
}

StatusOr<PreprocessSpec> read_preprocess_file(const std::string& path) {
  KESTREL_ASSIGN_OR_RETURN(const std::string text, read_regular_file(path, kMaxSpecBytes));
  return parse_preprocess_json(text, path);
}

int64_t output_channels(const PreprocessSpec& spec) { return spec.color == "grey" ? 1 : 3; }

StatusOr<PreprocessedSize> preprocessed_size(const PreprocessSpec& spec, int64_t height, int64_t width,
                                             int64_t channels) {
  if (height <= 0 || width <= 0) return invalid_argument("image is empty (", height, "x", width, ")");
  if (channels != 1 && channels != 3) return invalid_argument("image has ", channels, " channels; expected 1 or 3");
  if (channels == 3 && spec.color == "grey") {
    return invalid_argument("a colour image cannot be preprocessed with color 'grey' (the model takes 1 channel)");
  }
  int64_t out_h = 0, out_w = 0;
  resized_size(spec, height, width, out_h, out_w);
  if (out_h > kMaxPreprocessSide || out_w > kMaxPreprocessSide || out_h > kMaxPreprocessPixels / out_w) {
    return invalid_argument("resizing a ", height, "x", width, " image gives ", out_h, "x", out_w,
                            ", larger than the limit of ", kMaxPreprocessSide, " pixels per side and ",
                            kMaxPreprocessPixels, " in all");
  }
  if (spec.crop_height && (spec.crop_height > out_h || spec.crop_width > out_w)) {
    return invalid_argument("center_crop [", spec.crop_height, ",", spec.crop_width, "] is larger than the image (",
                            out_h, "x", out_w, " after resizing)");
  }
  const Window window = crop_window(spec, out_h, out_w);
  return PreprocessedSize{output_channels(spec), window.height, window.width};
}

Shape preprocessed_batch_shape(const PreprocessSpec& spec, const PreprocessedSize& size, int64_t batch) {
  if (spec.layout == "NHWC") return {batch, size.height, size.width, size.channels};
  return {batch, size.channels, size.height, size.width};
}

Status preprocess_image(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                        int64_t channels, float* dst) {
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, preprocessed_size(spec, height, width, channels));
  int64_t full_h = 0, full_w = 0;
  resized_size(spec, height, width, full_h, full_w);
  const Window window = crop_window(spec, full_h, full_w);
  std::vector<float> plane(static_cast<size_t>(height * width));
  std::vector<float> kept(static_cast<size_t>(channels * window.height * window.width));
  for (int64_t c = 0; c < channels; ++c) {
    // Scaling before resizing (as the PyTorch reference does) keeps the float
    // rounding the same as the reference's.
    for (int64_t i = 0; i < height * width; ++i) {
      plane[static_cast<size_t>(i)] = static_cast<float>(pixels[i * channels + c]) * spec.scale;
    }
    float* out = kept.data() + c * window.height * window.width;
    if (full_h == height && full_w == width) copy_window(plane.data(), width, window, out);
    else if (spec.resize_mode == "nearest") resize_nearest(plane.data(), height, width, full_h, full_w, window, out);
    else resize_bilinear(plane.data(), height, width, full_h, full_w, window, out);
  }
  write_output(spec, kept, channels, size, dst);
  return {};
}

Status preprocess_image(const PreprocessSpec& spec, const Image& image, float* dst) {
  if (image.pixels.size() != static_cast<size_t>(image.height * image.width * image.channels)) {
    return invalid_argument("image holds ", image.pixels.size(), " bytes, not ", image.height, "x", image.width, "x",
                            image.channels);
  }
  return preprocess_image(spec, image.pixels.data(), image.height, image.width, image.channels, dst);
}

void preprocess_grey_image(const PreprocessSpec& spec, const uint8_t* src, int64_t height, int64_t width, float* dst) {
  // The only failures are specs that do not suit the image, which callers
  // check with preprocessed_size(); then nothing is written.
  (void)preprocess_image(spec, src, height, width, 1, dst);
}

}  // namespace kestrel
