#include "kernels/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kestrel {
namespace {

// The part of the resized image that is kept (all of it without a crop).
struct Window {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// Source coordinate of output pixel `dst` for half-pixel-centre sampling, as
// PyTorch's F.interpolate(align_corners=False) computes it (float math).
float half_pixel_source(int64_t dst, float scale) {
  return std::max((static_cast<float>(dst) + 0.5f) * scale - 0.5f, 0.0f);
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

// One source row or column of a sample: the two pixels and their weights.
struct Tap {
  int64_t first = 0, second = 0;
  float first_weight = 1.0f, second_weight = 0.0f;
};

Tap bilinear_tap(int64_t dst, int64_t in_size, int64_t full_size) {
  const float sample = half_pixel_source(dst, static_cast<float>(in_size) / static_cast<float>(full_size));
  Tap tap;
  tap.first = std::min(static_cast<int64_t>(sample), in_size - 1);
  tap.second = std::min(tap.first + 1, in_size - 1);
  tap.second_weight = sample - static_cast<float>(tap.first);
  tap.first_weight = 1.0f - tap.second_weight;
  return tap;
}

Tap nearest_tap(int64_t dst, int64_t in_size, int64_t full_size) {
  return {std::min(dst * in_size / full_size, in_size - 1), 0, 1.0f, 0.0f};
}

// The value of one channel at one output pixel, scaled: the spec scales
// before resizing (as the PyTorch reference does), so each tap is scaled.
float sample(const uint8_t* pixels, int64_t width, int64_t channels, int64_t c, const Tap& row, const Tap& col,
             bool interpolate, float scale) {
  auto at = [&](int64_t y, int64_t x) { return static_cast<float>(pixels[(y * width + x) * channels + c]) * scale; };
  if (!interpolate) return at(row.first, col.first);
  return row.first_weight *
             (col.first_weight * at(row.first, col.first) + col.second_weight * at(row.first, col.second)) +
         row.second_weight *
             (col.first_weight * at(row.second, col.first) + col.second_weight * at(row.second, col.second));
}

template <typename Q>
Q quantize(float value, const PreprocessOutput& output) {
  const float q = std::nearbyint(value / output.scale) + static_cast<float>(output.zero_point);
  const float low = static_cast<float>(std::numeric_limits<Q>::min());
  const float high = static_cast<float>(std::numeric_limits<Q>::max());
  return static_cast<Q>(std::clamp(q, low, high));
}

template <typename T>
void store(void* dst, int64_t index, float value, const PreprocessOutput& output) {
  if constexpr (std::is_same_v<T, float>) {
    static_cast<float*>(dst)[index] = value;
  } else {
    static_cast<T*>(dst)[index] = quantize<T>(value, output);
  }
}

template <typename T>
void run_pipeline(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width, int64_t channels,
                  const PreprocessedSize& size, const PreprocessOutput& output, void* dst) {
  int64_t full_h = 0, full_w = 0;
  resized_size(spec, height, width, full_h, full_w);
  const Window window = crop_window(spec, full_h, full_w);
  const bool resized = full_h != height || full_w != width;
  const bool bilinear = resized && spec.resize_mode != "nearest";
  const int64_t pixels_out = size.height * size.width;
  for (int64_t y = 0; y < size.height; ++y) {
    const int64_t dy = window.top + y;
    const Tap row = !resized   ? Tap{dy, 0, 1.0f, 0.0f}
                    : bilinear ? bilinear_tap(dy, height, full_h)
                               : nearest_tap(dy, height, full_h);
    for (int64_t x = 0; x < size.width; ++x) {
      const int64_t dx = window.left + x;
      const Tap col = !resized   ? Tap{dx, 0, 1.0f, 0.0f}
                      : bilinear ? bilinear_tap(dx, width, full_w)
                                 : nearest_tap(dx, width, full_w);
      for (int64_t c = 0; c < size.channels; ++c) {
        // Grey images feed every channel; colour ones are kept (rgb) or reversed (bgr).
        const int64_t source = channels == 1 ? 0 : spec.color == "bgr" ? channels - 1 - c : c;
        const float value = sample(pixels, width, channels, source, row, col, bilinear, spec.scale);
        const float normalised = (value - spec.mean[static_cast<size_t>(c)]) / spec.std[static_cast<size_t>(c)];
        const int64_t index =
            output.nhwc ? (y * size.width + x) * size.channels + c : c * pixels_out + y * size.width + x;
        store<T>(dst, index, normalised, output);
      }
    }
  }
}

}  // namespace

int64_t output_channels(const PreprocessSpec& spec) { return spec.color == "grey" ? 1 : 3; }

StatusOr<PreprocessedSize> preprocessed_size(const PreprocessSpec& spec, int64_t height, int64_t width,
                                             int64_t channels) {
  if (height <= 0 || width <= 0) return invalid_argument("image is empty (", height, "x", width, ")");
  if (channels != 1 && channels != 3) return invalid_argument("image has ", channels, " channels; expected 1 or 3");
  if (spec.raw_frame) {
    const FrameSpec& frame = *spec.raw_frame;
    if (frame.format == FrameFormat::kNv12) {
      return invalid_argument(
          "the model takes nv12 frames, which images are not packed into (feed the frames "
          "through the API or run --input)");
    }
    if (frame.format == FrameFormat::kGray8 && channels == 3) {
      return invalid_argument("a colour image cannot be a gray8 frame");
    }
    if (height != frame.height || width != frame.width) {
      return invalid_argument("image is ", height, "x", width, ", the model takes ", frame_format_name(frame.format),
                              " frames of ", frame.height, "x", frame.width, " (its preprocessing is baked in)");
    }
    return PreprocessedSize{frame_channels(frame.format), height, width};
  }
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
  if (spec.raw_frame) {
    FrameSpec frame = *spec.raw_frame;
    frame.height = size.height;
    frame.width = size.width;
    auto shape = frame_shape(frame, batch);
    return shape.ok() ? *shape : Shape{};
  }
  if (spec.layout == "NHWC") return {batch, size.height, size.width, size.channels};
  return {batch, size.channels, size.height, size.width};
}

Status preprocess_pixels(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                         int64_t channels, const PreprocessOutput& output, void* dst) {
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, preprocessed_size(spec, height, width, channels));
  if (spec.mean.size() < static_cast<size_t>(size.channels) || spec.std.size() < static_cast<size_t>(size.channels)) {
    return invalid_argument("the spec has ", spec.mean.size(), " means and ", spec.std.size(), " stds for ",
                            size.channels, " channels");
  }
  switch (output.dtype) {
    case DType::kFloat32: run_pipeline<float>(spec, pixels, height, width, channels, size, output, dst); return {};
    case DType::kUInt8: run_pipeline<uint8_t>(spec, pixels, height, width, channels, size, output, dst); return {};
    case DType::kInt8: run_pipeline<int8_t>(spec, pixels, height, width, channels, size, output, dst); return {};
    default: return invalid_argument("preprocessing cannot write ", dtype_name(output.dtype));
  }
}

DType preprocessed_dtype(const PreprocessSpec& spec) { return spec.raw_frame ? DType::kUInt8 : DType::kFloat32; }

Status preprocess_image_into(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                             int64_t channels, void* dst) {
  if (!spec.raw_frame) return preprocess_image(spec, pixels, height, width, channels, static_cast<float*>(dst));
  KESTREL_RETURN_IF_ERROR(preprocessed_size(spec, height, width, channels).status());
  const FrameSpec& frame = *spec.raw_frame;
  const int64_t out_channels = frame_channels(frame.format), plane = height * width;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < plane; ++i) {
    for (int64_t c = 0; c < out_channels; ++c) {
      // Grey images fill every channel; RGB ones are reversed for bgr8.
      const int64_t rgb = frame.format == FrameFormat::kBgr8 ? out_channels - 1 - c : c;
      const uint8_t value = pixels[i * channels + (channels == 1 ? 0 : rgb)];
      out[frame.planar ? c * plane + i : i * out_channels + c] = value;
    }
  }
  return {};
}

Status preprocess_image(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                        int64_t channels, float* dst) {
  if (spec.raw_frame) return invalid_argument("preprocess_image: a baked model's frames are not float32");
  return preprocess_pixels(spec, pixels, height, width, channels, {.nhwc = spec.layout == "NHWC"}, dst);
}

StatusOr<FrameFormat> parse_frame_format(const std::string& name) {
  if (name == "gray8") return FrameFormat::kGray8;
  if (name == "rgb8") return FrameFormat::kRgb8;
  if (name == "bgr8") return FrameFormat::kBgr8;
  if (name == "nv12") return FrameFormat::kNv12;
  return invalid_argument("unknown input format '", name, "' (valid: gray8, rgb8, bgr8, nv12)");
}

const char* frame_format_name(FrameFormat format) {
  switch (format) {
    case FrameFormat::kGray8: return "gray8";
    case FrameFormat::kRgb8: return "rgb8";
    case FrameFormat::kBgr8: return "bgr8";
    case FrameFormat::kNv12: return "nv12";
  }
  return "?";
}

int64_t frame_channels(FrameFormat format) { return format == FrameFormat::kGray8 ? 1 : 3; }

StatusOr<Shape> frame_shape(const FrameSpec& frame, int64_t batch) {
  if (frame.height < 1 || frame.width < 1 || frame.height > kMaxPreprocessSide || frame.width > kMaxPreprocessSide ||
      frame.height > kMaxPreprocessPixels / frame.width) {
    return invalid_argument("frame size ", frame.height, "x", frame.width, " is outside 1..", kMaxPreprocessSide,
                            " per side and ", kMaxPreprocessPixels, " pixels");
  }
  if (frame.format == FrameFormat::kNv12) {
    if (frame.planar) return invalid_argument("nv12 frames have their own layout: give no --input-layout nchw");
    if (frame.height % 2 || frame.width % 2) {
      return invalid_argument("nv12 frames need an even height and width, got ", frame.height, "x", frame.width);
    }
    return Shape{batch, frame.height * 3 / 2, frame.width};
  }
  const int64_t channels = frame_channels(frame.format);
  if (frame.planar) return Shape{batch, channels, frame.height, frame.width};
  return Shape{batch, frame.height, frame.width, channels};
}

int64_t frame_bytes(const FrameSpec& frame) {
  if (frame.format == FrameFormat::kNv12) return frame.height * frame.width * 3 / 2;
  return frame.height * frame.width * frame_channels(frame.format);
}

int64_t frame_scratch_bytes(const FrameSpec& frame) {
  const bool in_place = !frame.planar && (frame.format == FrameFormat::kGray8 || frame.format == FrameFormat::kRgb8);
  return in_place ? 0 : frame.height * frame.width * frame_channels(frame.format);
}

void nv12_to_rgb(uint8_t y, uint8_t u, uint8_t v, uint8_t* rgb) {
  const float luma = static_cast<float>(y), cb = static_cast<float>(u) - 128.0f, cr = static_cast<float>(v) - 128.0f;
  const float values[3] = {luma + 1.402f * cr, luma - 0.344136f * cb - 0.714136f * cr, luma + 1.772f * cb};
  for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(std::clamp(std::nearbyint(values[c]), 0.0f, 255.0f));
}

Status preprocess_frame(const FrameSpec& frame, const PreprocessSpec& spec, const uint8_t* pixels, uint8_t* scratch,
                        const PreprocessOutput& output, void* dst) {
  const int64_t h = frame.height, w = frame.width, channels = frame_channels(frame.format);
  const uint8_t* image = pixels;
  if (frame.format == FrameFormat::kNv12) {
    const uint8_t* chroma = pixels + h * w;
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const uint8_t* uv = chroma + (y / 2) * w + (x / 2) * 2;
        nv12_to_rgb(pixels[y * w + x], uv[0], uv[1], scratch + (y * w + x) * 3);
      }
    }
    image = scratch;
  } else if (frame_scratch_bytes(frame) > 0) {
    // Planar frames become channels-last; BGR becomes RGB.
    const bool reverse = frame.format == FrameFormat::kBgr8;
    for (int64_t i = 0; i < h * w; ++i) {
      for (int64_t c = 0; c < channels; ++c) {
        const int64_t source = reverse ? channels - 1 - c : c;
        scratch[i * channels + c] = frame.planar ? pixels[source * h * w + i] : pixels[i * channels + source];
      }
    }
    image = scratch;
  }
  return preprocess_pixels(spec, image, h, w, channels, output, dst);
}

StatusOr<FrameStage> read_frame_stage(const Node& node, const Shape& input_shape) {
  const Attributes& a = node.attrs;
  FrameStage stage;
  auto format = parse_frame_format(a.get_string("format", ""));
  if (!format.ok()) return format.status().with_context(node.label());
  stage.frame.format = *format;
  const std::string frame_layout = a.get_string("frame_layout", "NHWC");
  if (frame_layout != "NHWC" && frame_layout != "NCHW") {
    return invalid_argument(node.label(), ": frame_layout '", frame_layout, "' is not NHWC or NCHW");
  }
  stage.frame.planar = frame_layout == "NCHW";
  const bool nv12 = stage.frame.format == FrameFormat::kNv12;
  const size_t rank = nv12 ? 3 : 4;
  if (input_shape.size() != rank) {
    return invalid_argument(node.label(), ": ", frame_format_name(stage.frame.format), " frames are rank ", rank,
                            ", got ", shape_string(input_shape));
  }
  stage.batch = input_shape[0];
  stage.frame.height = nv12 ? input_shape[1] * 2 / 3 : stage.frame.planar ? input_shape[2] : input_shape[1];
  stage.frame.width = nv12 ? input_shape[2] : stage.frame.planar ? input_shape[3] : input_shape[2];
  auto expected = frame_shape(stage.frame, stage.batch);
  if (!expected.ok()) return expected.status().with_context(node.label());
  if (*expected != input_shape) {
    return invalid_argument(node.label(), ": ", frame_format_name(stage.frame.format), " frames of ",
                            stage.frame.height, "x", stage.frame.width, " are ", shape_string(*expected), ", got ",
                            shape_string(input_shape));
  }
  PreprocessSpec& spec = stage.spec;
  spec.resize_height = a.get_int("resize_height", 0);
  spec.resize_width = a.get_int("resize_width", 0);
  spec.resize_shorter_side = a.get_int("resize_shorter_side", 0);
  spec.resize_mode = a.get_string("resize_mode", "bilinear");
  spec.crop_height = a.get_int("crop_height", 0);
  spec.crop_width = a.get_int("crop_width", 0);
  spec.color = a.get_string("color", "grey");
  spec.scale = a.get_float("scale", 1.0f);
  spec.mean = a.get_floats("mean", {0.0f});
  spec.std = a.get_floats("std", {1.0f});
  spec.layout = a.get_string("layout", "NCHW");
  const bool sizes_ok = spec.resize_height >= 0 && spec.resize_width >= 0 && spec.resize_shorter_side >= 0 &&
                        spec.crop_height >= 0 && spec.crop_width >= 0 && spec.resize_height <= kMaxPreprocessSide &&
                        spec.resize_width <= kMaxPreprocessSide && spec.resize_shorter_side <= kMaxPreprocessSide &&
                        (spec.resize_height == 0) == (spec.resize_width == 0) &&
                        (spec.crop_height == 0) == (spec.crop_width == 0);
  if (!sizes_ok) return invalid_argument(node.label(), ": resize or crop sizes are invalid");
  if (spec.resize_mode != "bilinear" && spec.resize_mode != "nearest") {
    return invalid_argument(node.label(), ": resize_mode '", spec.resize_mode, "' is not bilinear or nearest");
  }
  if ((spec.color != "grey" && spec.color != "rgb" && spec.color != "bgr") ||
      (spec.layout != "NCHW" && spec.layout != "NHWC")) {
    return invalid_argument(node.label(), ": color '", spec.color, "' or layout '", spec.layout, "' is invalid");
  }
  const size_t channels = static_cast<size_t>(output_channels(spec));
  bool numbers_ok = std::isfinite(spec.scale) && spec.scale > 0 &&
                    (spec.mean.size() == channels || spec.mean.size() == 1) &&
                    (spec.std.size() == channels || spec.std.size() == 1);
  for (float v : spec.mean) numbers_ok = numbers_ok && std::isfinite(v);
  for (float v : spec.std) numbers_ok = numbers_ok && std::isfinite(v) && v > 0;
  if (!numbers_ok) return invalid_argument(node.label(), ": scale, mean or std are invalid");
  spec.mean.resize(channels, spec.mean[0]);
  spec.std.resize(channels, spec.std[0]);
  auto size = preprocessed_size(spec, stage.frame.height, stage.frame.width, frame_channels(stage.frame.format));
  if (!size.ok()) return size.status().with_context(node.label());
  stage.output_shape = preprocessed_batch_shape(spec, *size, stage.batch);
  const std::string type = a.get_string("output_type", "float32");
  PreprocessOutput& output = stage.output;
  output.nhwc = spec.layout == "NHWC";
  output.dtype = type == "float32" ? DType::kFloat32
                 : type == "uint8" ? DType::kUInt8
                 : type == "int8"  ? DType::kInt8
                                   : DType::kUndefined;
  if (output.dtype == DType::kUndefined) {
    return invalid_argument(node.label(), ": output_type '", type, "' is not float32, uint8 or int8");
  }
  output.scale = a.get_float("output_scale", 1.0f);
  const int64_t zero_point = a.get_int("output_zero_point", 0);
  const bool quantized = output.dtype != DType::kFloat32;
  const int64_t low = output.dtype == DType::kUInt8 ? 0 : -128, high = output.dtype == DType::kUInt8 ? 255 : 127;
  if (quantized && (!std::isfinite(output.scale) || output.scale <= 0 || zero_point < low || zero_point > high)) {
    return invalid_argument(node.label(), ": output_scale ", output.scale, " or output_zero_point ", zero_point,
                            " is invalid for ", type);
  }
  output.zero_point = static_cast<int32_t>(zero_point);
  return stage;
}

Attributes frame_stage_attributes(const FrameSpec& frame, const PreprocessSpec& spec, const PreprocessOutput& output) {
  Attributes a;
  a.set("format", std::string(frame_format_name(frame.format)));
  a.set("frame_layout", std::string(frame.planar ? "NCHW" : "NHWC"));
  a.set("resize_height", spec.resize_height);
  a.set("resize_width", spec.resize_width);
  a.set("resize_shorter_side", spec.resize_shorter_side);
  a.set("resize_mode", spec.resize_mode);
  a.set("crop_height", spec.crop_height);
  a.set("crop_width", spec.crop_width);
  a.set("color", spec.color);
  a.set("scale", spec.scale);
  a.set("mean", spec.mean);
  a.set("std", spec.std);
  a.set("layout", spec.layout);
  a.set("output_type", std::string(output.dtype == DType::kFloat32 ? "float32"
                                   : output.dtype == DType::kUInt8 ? "uint8"
                                                                   : "int8"));
  a.set("output_scale", output.scale);
  a.set("output_zero_point", static_cast<int64_t>(output.zero_point));
  return a;
}

}  // namespace kestrel
