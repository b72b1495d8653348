// libFuzzer target for the preprocessing spec (docs/preprocessing.md):
// JSON text -> parse_preprocess_json -> preprocessed_size for a grey and a
// colour image -> preprocess_image on small generated images.
// Seeds: models/*.preprocess.json, tests/data/preprocess/*.json and the JSON
// examples in docs/preprocessing.md (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "io/preprocess.h"

namespace {

using namespace kestrel;

Image make_image(int64_t height, int64_t width, int64_t channels) {
  Image image{.height = height, .width = width, .channels = channels};
  image.pixels.resize(static_cast<size_t>(height * width * channels));
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 37);
  return image;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Image> images = {make_image(28, 28, 1), make_image(37, 53, 3), make_image(1, 1, 3)};
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = parse_preprocess_json(text, "fuzz.json");
  if (!spec.ok()) return 0;
  (void)output_channels(*spec);
  for (const Image& image : images) {
    auto out = preprocessed_size(*spec, image.height, image.width, image.channels);
    if (!out.ok()) continue;
    if (!fuzz::small_shape({out->channels, out->height, out->width})) continue;
    (void)preprocessed_batch_shape(*spec, *out, 2);
    std::vector<float> dst(static_cast<size_t>(out->channels * out->height * out->width));
    (void)preprocess_image(*spec, image, dst.data());
    fuzz::touch_bytes(dst.data(), dst.size() * sizeof(float));
  }
  return 0;
}
