// Labelled image datasets for evaluation and calibration: an IDX file (the
// MNIST family) or a folder of PNG/JPEG images. Images are decoded on access,
// so opening a folder of a million images only lists it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/image.h"

namespace kestrel {

constexpr int64_t kNoLabel = -1;

struct Example {
  Image image;               // uint8 HxWxC
  int64_t label = kNoLabel;  // kNoLabel when the dataset has no labels
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual bool has_labels() const = 0;
  // Errors name the image (see item_name) and the reason.
  virtual StatusOr<Example> get(int64_t index) const = 0;
  // The label of image `index` without decoding it (kNoLabel when none).
  virtual int64_t label(int64_t index) const = 0;
  // What errors about image `index` call it: a file path, or "FILE.idx[7]".
  virtual std::string item_name(int64_t index) const = 0;
  // Class names in label order when the dataset knows them (ImageFolder).
  virtual std::vector<std::string> class_names() const { return {}; }
};

// IDX images u8 [N,H,W] (grey) or [N,H,W,C] with C = 1 or 3, and optional IDX
// labels u8 [N] (`labels_path` empty: none). Reads the first `limit` images
// (all when limit < 0).
StatusOr<std::unique_ptr<Dataset>> open_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                                    int64_t limit = -1);

// Every .png/.jpg/.jpeg file under `dir` (recursively, any letter case,
// following links to folders), in sorted path order. A dangling symbolic
// link, an image name that is not a regular file (a FIFO, a device) or a
// folder reached twice (a link loop) is an error naming it, never skipped. Labels come from `dir/labels.txt`
// ("relative/path label" per line) when it exists; otherwise from the ImageFolder layout dir/<class>/.../<image>, class
// index = position among the sorted subfolder names (as torchvision's ImageFolder); a folder with images directly in
// `dir` and no labels.txt is unlabelled (for calibration).
StatusOr<std::unique_ptr<Dataset>> open_image_folder(const std::string& dir, int64_t limit = -1);

// A folder opens as an image folder, anything else as IDX images + labels.
// `labels_path` with a folder is an error: its labels are its class folders
// or its labels.txt.
StatusOr<std::unique_ptr<Dataset>> open_dataset(const std::string& path, const std::string& labels_path,
                                                int64_t limit = -1);

// Images [offset, offset + count) of `base` as a dataset of `count` (base
// must outlive it and hold them all). Errors still name the image by its
// place in `base`.
std::unique_ptr<Dataset> slice_dataset(const Dataset& base, int64_t offset, int64_t count);
// The same, owning `base`.
std::unique_ptr<Dataset> slice_dataset(std::unique_ptr<Dataset> base, int64_t offset, int64_t count);

// Opens `path` (as open_dataset) and keeps images [offset, offset + count)
// (count < 0: all from offset on). Asking for more images than the dataset
// holds is an error naming it, the counts and `what` ("--calibration-count").
StatusOr<std::unique_ptr<Dataset>> open_dataset_slice(const std::string& path, const std::string& labels_path,
                                                      int64_t offset, int64_t count, const std::string& what);

// A class-names file: one name per line, in label order (trailing empty
// lines and '\r' dropped). A missing, empty or non-regular file is an error.
StatusOr<std::vector<std::string>> read_class_names(const std::string& path);

// Checks that a labelled dataset suits a classifier with `classes` outputs:
// every label is below `classes`, and an ImageFolder has no more class
// folders than that. Errors name `source` (the labels file or the folder),
// the image and the counts.
Status check_labels_fit(const Dataset& dataset, int64_t classes, const std::string& source);

}  // namespace kestrel
