// Image preprocessing as a computation: what a spec (docs/preprocessing.md)
// does to uint8 pixels, in one pass from the pixels to the model input,
// float32 or quantized. The spec's JSON form is read in io/preprocess.h; this
// part is in the runtime because a model converted with --bake-preprocess
// runs it as its first node (PreprocessFrame, docs/preprocessing.md "Baked
// preprocessing"), on raw camera frames.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ir/dtype.h"
#include "ir/graph.h"
#include "ir/tensor.h"

namespace kestrel {

// Limits on the sizes a spec may name and on the resized image; the image
// decoder's (io/image.h), far beyond any vision model's input.
inline constexpr int64_t kMaxPreprocessSide = 16384;
inline constexpr int64_t kMaxPreprocessPixels = int64_t{1} << 26;

// ---- Raw frames (--bake-preprocess) ----

// The pixel formats a baked model takes: 8-bit grey, RGB, BGR, and NV12
// (YUV 4:2:0, a full-resolution Y plane then one interleaved U,V plane of
// half the height; BT.601 full range, as camera ISPs and video decoders
// give it).
enum class FrameFormat { kGray8, kRgb8, kBgr8, kNv12 };

struct FrameSpec {
  FrameFormat format = FrameFormat::kRgb8;
  bool planar = false;  // gray8/rgb8/bgr8 as [N,C,H,W] instead of [N,H,W,C]
  int64_t height = 0, width = 0;
};

struct PreprocessSpec {
  int64_t resize_height = 0;  // 0: keep the image size (unless resize_shorter_side)
  int64_t resize_width = 0;
  int64_t resize_shorter_side = 0;       // 0: off; else the shorter side becomes this, keeping the aspect ratio
  std::string resize_mode = "bilinear";  // or "nearest"
  int64_t crop_height = 0;               // 0: no center crop
  int64_t crop_width = 0;
  std::string color = "grey";  // output channels: grey = 1, rgb/bgr = 3
  float scale = 1.0f;
  std::vector<float> mean = {0.0f};
  std::vector<float> std = {1.0f};
  std::string layout = "NCHW";  // or "NHWC"
  // Set for a model with baked preprocessing: the host's part is then only
  // to pack each image, unchanged, as one of the model's uint8 frames; the
  // fields above are the model's own (its PreprocessFrame node).
  std::optional<FrameSpec> raw_frame;
};

int64_t output_channels(const PreprocessSpec& spec);

// The size of one preprocessed image.
struct PreprocessedSize {
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  bool operator==(const PreprocessedSize&) const = default;
};

// What an HxWxC image becomes; an error when the spec cannot use the image
// (a colour image for a grey model, a crop larger than the resized image).
StatusOr<PreprocessedSize> preprocessed_size(const PreprocessSpec& spec, int64_t height, int64_t width,
                                             int64_t channels);

// The model input for `batch` such images: [N,C,H,W] or [N,H,W,C].
Shape preprocessed_batch_shape(const PreprocessSpec& spec, const PreprocessedSize& size, int64_t batch);

// Where the pipeline writes: float32, or quantized (q = round(x / scale) +
// zero_point, saturated) to uint8 or int8 without a float image in between.
struct PreprocessOutput {
  DType dtype = DType::kFloat32;
  float scale = 1.0f;
  int32_t zero_point = 0;
  bool nhwc = false;  // overrides the spec's layout: the layout of the buffer written
};

// Turns HxWxC uint8 pixels (C = 1 grey or 3 RGB, channels-last) into the
// preprocessed image at `dst`, in `output`'s type and layout. Allocates nothing.
Status preprocess_pixels(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                         int64_t channels, const PreprocessOutput& output, void* dst);

// float32, or uint8 for a raw_frame spec.
DType preprocessed_dtype(const PreprocessSpec& spec);

// Turns an HxWxC uint8 image into preprocessed_size() values of
// preprocessed_dtype() at `dst`: float32 in the spec's layout, or the packed frame.
Status preprocess_image_into(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                             int64_t channels, void* dst);

// Turns an HxWxC uint8 image into float32 of preprocessed_size() in the
// spec's layout, written at `dst` (not for a raw_frame spec).
Status preprocess_image(const PreprocessSpec& spec, const uint8_t* pixels, int64_t height, int64_t width,
                        int64_t channels, float* dst);

StatusOr<FrameFormat> parse_frame_format(const std::string& name);  // "gray8", "rgb8", "bgr8", "nv12"
const char* frame_format_name(FrameFormat format);

// The model input a frame batch is: [N,H,W,C] or [N,C,H,W], or [N,H*3/2,W]
// for NV12; an error for an impossible frame (NV12 with an odd side, planar NV12).
StatusOr<Shape> frame_shape(const FrameSpec& frame, int64_t batch);
// Channels of the decoded image: 1 for grey, 3 (RGB) otherwise.
int64_t frame_channels(FrameFormat format);
// Bytes of one frame, and of the scratch preprocess_frame needs (0 when the
// frame is already H x W x C grey or RGB).
int64_t frame_bytes(const FrameSpec& frame);
int64_t frame_scratch_bytes(const FrameSpec& frame);

// The RGB pixel of NV12 luma y and chroma u, v (BT.601 full range, rounded
// to nearest and saturated).
void nv12_to_rgb(uint8_t y, uint8_t u, uint8_t v, uint8_t* rgb);

// One frame through the spec: decoded to H x W x C pixels (in `scratch`,
// frame_scratch_bytes() of it, when they are not already), then
// preprocess_pixels. Allocates nothing.
Status preprocess_frame(const FrameSpec& frame, const PreprocessSpec& spec, const uint8_t* pixels, uint8_t* scratch,
                        const PreprocessOutput& output, void* dst);

// ---- The PreprocessFrame node (domain "kestrel") ----
//
// X: the uint8 frames, frame_shape() of them. Y: the model input, [N,C,H,W]
// (or [N,H,W,C] for a spec with layout NHWC), float32 or, for a quantized
// model whose first layer reads int8, its quantized input. Attributes: the
// frame (format, frame_layout), the spec (resize_height, resize_width,
// resize_shorter_side, resize_mode, crop_height, crop_width, color, scale,
// mean, std, layout), and output_type ("float32", "uint8", "int8") with
// output_scale and output_zero_point.
inline constexpr char kPreprocessFrameOp[] = "PreprocessFrame";

struct FrameStage {
  FrameSpec frame;
  PreprocessSpec spec;
  PreprocessOutput output;
  int64_t batch = 0;
  Shape output_shape;
};

// Reads and checks a PreprocessFrame node for frames of `input_shape`.
StatusOr<FrameStage> read_frame_stage(const Node& node, const Shape& input_shape);

// The node's attributes for a stage (the inverse of read_frame_stage).
Attributes frame_stage_attributes(const FrameSpec& frame, const PreprocessSpec& spec, const PreprocessOutput& output);

}  // namespace kestrel
