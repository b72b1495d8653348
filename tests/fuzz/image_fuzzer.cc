// libFuzzer target for image decoding and preprocessing: PNG/JPEG bytes ->
// decode_image -> preprocessed_size -> preprocess_image, with one of a few
// fixed specs (the shapes the repository's own specs use: models/*.json,
// tests/data/preprocess/*.json) picked by the input's last byte, which PNG
// and JPEG decoders ignore after the end marker.
//
// Seeds: PNGs from scripts/export_images.py (Fashion-MNIST) and PNG/JPEG
// variants (tests/fuzz/make_seeds.py).
//
// Known bug, skipped while fuzzing (KESTREL_FUZZ_SKIP_KNOWN=1, set by
// scripts/fuzz.sh) so that it does not hide everything else: Debian's
// stb_image (libstb-dev 0.0~git20220908) writes past stbi__huffman::size[257]
// when a JPEG DHT table declares more than 256 codes (stb_image.h:1990,
// stbi__build_huffman). Reproducer: tests/fuzz/regressions/image_fuzzer/.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "fuzz_util.h"
#include "io/image.h"
#include "io/preprocess.h"

namespace {

using namespace kestrel;

std::vector<PreprocessSpec> make_specs() {
  std::vector<PreprocessSpec> specs(5);
  // fmnist_cnn.preprocess.json: grey, as is.
  specs[0].scale = 1.0f / 255;
  // rgb224.preprocess.json: shorter side 256, crop 224, ImageNet normalization.
  specs[1] = {.resize_shorter_side = 256, .crop_height = 224, .crop_width = 224, .color = "rgb",
              .scale = 1.0f / 255, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
  // grey28_to_224.json: a fixed-size bilinear resize.
  specs[2] = {.resize_height = 224, .resize_width = 224, .color = "grey", .scale = 1.0f / 255};
  // rgb37x53_short48_crop41x43_bgr_nhwc.json: nearest, BGR, NHWC.
  specs[3] = {.resize_shorter_side = 48, .resize_mode = "nearest", .crop_height = 41, .crop_width = 43,
              .color = "bgr", .layout = "NHWC"};
  // Degenerate but valid: everything down to one pixel.
  specs[4] = {.resize_height = 1, .resize_width = 1, .color = "rgb"};
  return specs;
}

// True when a JPEG DHT segment (FF C4) holds a table of more than 256 codes.
bool has_oversized_huffman_table(const uint8_t* data, size_t size) {
  for (size_t i = 0; i + 4 <= size; ++i) {
    if (data[i] != 0xFF || data[i + 1] != 0xC4) continue;
    const size_t end = std::min(size, i + 2 + (size_t{data[i + 2]} << 8 | data[i + 3]));
    for (size_t table = i + 4; table + 17 <= end;) {
      size_t codes = 0;
      for (size_t k = 1; k <= 16; ++k) codes += data[table + k];
      if (codes > 256) return true;
      table += 17 + codes;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<PreprocessSpec> specs = make_specs();
  static const bool skip_known = std::getenv("KESTREL_FUZZ_SKIP_KNOWN") != nullptr;
  if (skip_known && has_oversized_huffman_table(data, size)) return 0;
  auto image = decode_image(data, size, "fuzz image");
  if (!image.ok()) return 0;
  fuzz::touch_bytes(image->pixels.data(), image->pixels.size());
  const PreprocessSpec& spec = specs[size == 0 ? 0 : data[size - 1] % specs.size()];
  auto out = preprocessed_size(spec, image->height, image->width, image->channels);
  if (!out.ok()) return 0;
  if (!fuzz::small_shape({out->channels, out->height, out->width})) return 0;
  std::vector<float> dst(static_cast<size_t>(out->channels * out->height * out->width));
  (void)preprocess_image(spec, *image, dst.data());
  fuzz::touch_bytes(dst.data(), dst.size() * sizeof(float));
  return 0;
}
