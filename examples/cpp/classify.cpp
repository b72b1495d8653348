// Classifies an image folder with a .kestrel model: one batch (the first N
// images in name order), the top-1 class of each.
//   classify MODEL.kestrel PREPROCESS.json FOLDER
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <kestrel/kestrel.hpp>
#include <vector>

int main(int argc, char** argv) try {
  if (argc != 4) return std::fprintf(stderr, "usage: %s MODEL.kestrel PREPROCESS.json FOLDER\n", argv[0]), 2;
  namespace fs = std::filesystem;
  std::vector<fs::path> images;
  for (const auto& entry : fs::directory_iterator(argv[3])) {
    const auto ext = entry.path().extension();
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") images.push_back(entry.path());
  }
  std::sort(images.begin(), images.end());
  const auto model = kestrel::api::Model::load(argv[1]);
  kestrel::api::Session session(model);
  const auto input = model.input(0);
  const size_t rows = static_cast<size_t>(input.shape[0]);
  images.resize(std::min(images.size(), rows));
  const auto batch = session.input_buffer_as<float>(0);
  std::fill(batch.begin(), batch.end(), 0.0f);
  const size_t per_image = batch.size() / rows;
  for (size_t i = 0; i < images.size(); ++i)
    kestrel::api::preprocess_image(argv[2], images[i].string(), batch.subspan(i * per_image, per_image));
  session.run();
  const auto logits = session.output_buffer_as<float>(0);
  const size_t classes = logits.size() / rows;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto row = logits.subspan(i * classes, classes);
    std::printf("%s: %td\n", images[i].string().c_str(), std::max_element(row.begin(), row.end()) - row.begin());
  }
} catch (const kestrel::api::Error& error) {
  std::fprintf(stderr, "error: %s\n", error.what());
  return 1;
}
