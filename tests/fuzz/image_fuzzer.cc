// libFuzzer target for image decoding and preprocessing: PNG/JPEG bytes ->
// decode_image -> preprocessed_size -> preprocess_image, with one of a few
// fixed specs (the shapes the repository's own specs use: models/*.json,
// tests/data/preprocess/*.json) picked by the input's last byte, which PNG
// and JPEG decoders ignore after the end marker.
//
// Seeds: PNGs from scripts/export_images.py (Fashion-MNIST) and PNG/JPEG
// variants (tests/fuzz/make_seeds.py).
//
// The stb_image DHT overflow it found (a JPEG Huffman table of more than
// 256 codes) is refused before stb since 9db564d; its reproducers are in
// tests/fuzz/regressions/image_fuzzer/.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "fuzz_util.h"
#include "io/image.h"
#include "io/preprocess.h"

namespace {

using namespace kestrel;

// Specs as users write them, parsed by the real parser (which also expands a
// one-value mean/std to every channel).
std::vector<PreprocessSpec> make_specs() {
  const char* texts[] = {
      // models/fmnist_cnn.preprocess.json: grey, as is.
      R"({"resize": null, "color": "grey", "scale": 0.00392156862745098, "mean": [0.2860], "std": [0.3530]})",
      // docs/preprocessing.md: shorter side 256, crop 224, ImageNet normalisation.
      R"({"resize": {"shorter_side": 256}, "center_crop": [224, 224], "color": "rgb", "scale": 0.00392156862745098,
          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "NCHW"})",
      // tests/data/preprocess/grey28_to_224.json: a fixed-size bilinear resize.
      R"({"resize": {"size": [224, 224], "mode": "bilinear"}, "color": "grey", "mean": [0.286], "std": [0.353]})",
      // tests/data/preprocess/rgb37x53_short48_crop41x43_bgr_nhwc.json, nearest.
      R"({"resize": {"shorter_side": 48, "mode": "nearest"}, "center_crop": [41, 43], "color": "bgr",
          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "layout": "NHWC"})",
      // Degenerate but valid: everything down to one pixel.
      R"({"resize": {"size": [1, 1]}, "color": "rgb", "mean": [0.5], "std": [0.25]})",
  };
  std::vector<PreprocessSpec> specs;
  for (const char* text : texts) {
    auto spec = parse_preprocess_json(text, "image_fuzzer spec");
    if (!spec.ok()) {
      std::fprintf(stderr, "image_fuzzer: a built-in spec no longer parses: %s\n", spec.status().message().c_str());
      std::abort();
    }
    specs.push_back(*spec);
  }
  return specs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<PreprocessSpec> specs = make_specs();
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
