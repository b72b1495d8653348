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

Status preprocess_image(const PreprocessSpec& spec, const Image& image, void* dst) {
  if (image.pixels.size() != static_cast<size_t>(image.height * image.width * image.channels)) {
    return invalid_argument("image holds ", image.pixels.size(), " bytes, not ", image.height, "x", image.width, "x",
                            image.channels);
  }
  return preprocess_image_into(spec, image.pixels.data(), image.height, image.width, image.channels, dst);
}

void preprocess_grey_image(const PreprocessSpec& spec, const uint8_t* src, int64_t height, int64_t width, float* dst) {
  // The only failures are specs that do not suit the image, which callers
  // check with preprocessed_size(); then nothing is written.
  (void)preprocess_image(spec, src, height, width, 1, dst);
}

}  // namespace kestrel
