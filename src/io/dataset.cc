#include "io/dataset.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <system_error>

#include "base/regular_file.h"
#include "io/idx.h"
#include "ir/tensor.h"

namespace kestrel {
namespace {

namespace fs = std::filesystem;

constexpr char kLabelsFile[] = "labels.txt";
// labels.txt holds one short line per image; this allows tens of millions.
constexpr int64_t kMaxLabelsFileBytes = int64_t{1} << 30;
// A class-names file is a few kilobytes; this is generous.
constexpr int64_t kMaxClassNamesBytes = int64_t{64} << 20;

class IdxDataset final : public Dataset {
 public:
  IdxDataset(std::string path, Tensor images, Tensor labels)
      : path_(std::move(path)), images_(std::move(images)), labels_(std::move(labels)) {}

  int64_t size() const override { return images_.dim(0); }
  bool has_labels() const override { return labels_.rank() == 1; }
  std::string item_name(int64_t index) const override { return str_cat(path_, "[", index, "]"); }

  StatusOr<Example> get(int64_t index) const override {
    if (index < 0 || index >= size()) return invalid_argument(item_name(index), ": index out of range");
    Example example;
    example.image.height = images_.dim(1);
    example.image.width = images_.dim(2);
    example.image.channels = images_.rank() == 4 ? images_.dim(3) : 1;
    const int64_t bytes = example.image.height * example.image.width * example.image.channels;
    const uint8_t* src = images_.data<uint8_t>() + index * bytes;
    example.image.pixels.assign(src, src + bytes);
    example.label = label(index);
    return example;
  }

  int64_t label(int64_t index) const override {
    if (!has_labels() || index < 0 || index >= size()) return kNoLabel;
    return labels_.data<uint8_t>()[index];
  }

 private:
  std::string path_;
  Tensor images_;
  Tensor labels_;  // rank 0 (empty) when there are no labels
};

struct FolderEntry {
  std::string relative;  // generic form, '/' separated, relative to the folder
  int64_t label = kNoLabel;
};

class ImageFolderDataset final : public Dataset {
 public:
  ImageFolderDataset(std::string dir, std::vector<FolderEntry> entries, std::vector<std::string> classes, bool labelled)
      : dir_(std::move(dir)), entries_(std::move(entries)), classes_(std::move(classes)), labelled_(labelled) {}

  int64_t size() const override { return static_cast<int64_t>(entries_.size()); }
  bool has_labels() const override { return labelled_; }
  std::vector<std::string> class_names() const override { return classes_; }
  std::string item_name(int64_t index) const override {
    if (index < 0 || index >= size()) return str_cat(dir_, "[", index, "]");
    return (fs::path(dir_) / entries_[static_cast<size_t>(index)].relative).string();
  }

  StatusOr<Example> get(int64_t index) const override {
    if (index < 0 || index >= size()) return invalid_argument(item_name(index), ": index out of range");
    Example example;
    KESTREL_ASSIGN_OR_RETURN(example.image, decode_image_file(item_name(index)));
    example.label = label(index);
    return example;
  }

  int64_t label(int64_t index) const override {
    if (index < 0 || index >= size()) return kNoLabel;
    return entries_[static_cast<size_t>(index)].label;
  }

 private:
  std::string dir_;
  std::vector<FolderEntry> entries_;
  std::vector<std::string> classes_;
  bool labelled_;
};

// Why `entry` cannot be listed (a dangling link, an image name that is not a
// regular file), or an empty string when it can.
std::string unusable_entry(const fs::directory_entry& entry) {
  std::error_code error;
  const fs::file_status link = entry.symlink_status(error);
  const fs::file_status target = entry.status(error);
  if (fs::is_symlink(link) && !fs::exists(target)) return "is a dangling symbolic link (its target does not exist)";
  if (fs::is_directory(target) || fs::is_regular_file(target) || !is_image_file_name(entry.path().string())) return "";
  if (fs::is_fifo(target)) return "is a FIFO, not a regular file";
  if (fs::is_character_file(target) || fs::is_block_file(target)) return "is a device, not a regular file";
  return "is not a regular file";
}

// Relative paths of every image file under `dir`, sorted so that the dataset's
// order does not depend on the file system's listing order.
StatusOr<std::vector<std::string>> list_images(const std::string& dir) {
  std::error_code error;
  std::vector<std::string> paths;
  // Canonical folders seen: following links, a loop would never end.
  std::set<fs::path> folders = {fs::canonical(dir, error)};
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, error), end;
  for (; !error && it != end; it.increment(error)) {
    const fs::path& path = it->path();
    const std::string problem = unusable_entry(*it);
    if (!problem.empty()) return invalid_argument(path.string(), ": ", problem);
    std::error_code type_error;
    if (it->is_directory(type_error)) {
      const fs::path folder = fs::canonical(path, type_error);
      if (type_error) return not_found(path.string(), ": cannot resolve folder: ", type_error.message());
      if (!folders.insert(folder).second) {
        return invalid_argument(path.string(), ": links to a folder that is already part of ", dir,
                                " (a loop or a duplicate)");
      }
      continue;
    }
    if (!is_image_file_name(path.string()) || !it->is_regular_file(type_error)) continue;
    paths.push_back(path.lexically_relative(dir).generic_string());
  }
  if (error) return not_found(dir, ": cannot list folder: ", error.message());
  std::sort(paths.begin(), paths.end());
  return paths;
}

// Subfolder names of `dir`, sorted: the class order torchvision's ImageFolder uses.
StatusOr<std::vector<std::string>> list_class_folders(const std::string& dir) {
  std::error_code error;
  std::vector<std::string> names;
  fs::directory_iterator it(dir, error), end;
  for (; !error && it != end; it.increment(error)) {
    std::error_code type_error;
    if (it->is_directory(type_error)) names.push_back(it->path().filename().string());
  }
  if (error) return not_found(dir, ": cannot list folder: ", error.message());
  std::sort(names.begin(), names.end());
  return names;
}

// One "relative/path label" line; the label is the last word so paths may hold spaces.
Status parse_label_line(const std::string& line, const std::string& where, std::string& path, int64_t& label) {
  const size_t end = line.find_last_not_of(" \t\r");
  const size_t space = line.find_last_of(" \t", end);
  const size_t path_end = space == std::string::npos ? std::string::npos : line.find_last_not_of(" \t", space);
  if (end == std::string::npos || space == std::string::npos || path_end == std::string::npos) {
    return invalid_argument(where, ": expected 'relative/path label'");
  }
  const char* first = line.data() + space + 1;
  const char* last = line.data() + end + 1;
  const auto [ptr, code] = std::from_chars(first, last, label);
  if (code != std::errc() || ptr != last || label < 0) {
    return invalid_argument(where, ": label '", std::string(first, last), "' is not a non-negative integer");
  }
  const size_t path_begin = line.find_first_not_of(" \t");
  path = fs::path(line.substr(path_begin, path_end + 1 - path_begin)).lexically_normal().generic_string();
  return {};
}

StatusOr<std::map<std::string, int64_t>> read_labels_file(const std::string& labels_path) {
  KESTREL_ASSIGN_OR_RETURN(const std::string text, read_regular_file(labels_path, kMaxLabelsFileBytes));
  std::istringstream file(text);
  std::map<std::string, int64_t> labels;
  int line_number = 0;
  for (std::string line; std::getline(file, line);) {
    ++line_number;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string where = str_cat(labels_path, ":", line_number);
    std::string path;
    int64_t label = 0;
    KESTREL_RETURN_IF_ERROR(parse_label_line(line, where, path, label));
    if (!labels.emplace(path, label).second) return invalid_argument(where, ": '", path, "' is listed twice");
  }
  return labels;
}

// Labels from labels.txt: every image needs one, and every line must name an image.
StatusOr<std::vector<FolderEntry>> label_from_file(const std::string& dir, const std::vector<std::string>& images) {
  const std::string labels_path = (fs::path(dir) / kLabelsFile).string();
  KESTREL_ASSIGN_OR_RETURN(auto labels, read_labels_file(labels_path));
  std::vector<FolderEntry> entries;
  for (const auto& image : images) {
    const auto found = labels.find(image);
    if (found == labels.end()) return invalid_argument(labels_path, ": no label for image '", image, "'");
    entries.push_back({image, found->second});
    labels.erase(found);
  }
  if (!labels.empty()) {
    return invalid_argument(labels_path, ": '", labels.begin()->first, "' is not a .png/.jpg/.jpeg image in ", dir);
  }
  return entries;
}

// ImageFolder labels: the first path component is the class folder.
std::vector<FolderEntry> label_from_folders(const std::vector<std::string>& images,
                                            const std::vector<std::string>& classes, bool& labelled) {
  labelled = true;
  std::vector<FolderEntry> entries;
  for (const auto& image : images) {
    const size_t slash = image.find('/');
    if (slash == std::string::npos) labelled = false;  // an image outside any class folder
    const std::string folder = slash == std::string::npos ? std::string() : image.substr(0, slash);
    const auto cls = std::lower_bound(classes.begin(), classes.end(), folder);
    const bool found = slash != std::string::npos && cls != classes.end() && *cls == folder;
    entries.push_back({image, found ? static_cast<int64_t>(cls - classes.begin()) : kNoLabel});
  }
  if (!labelled) {
    for (auto& entry : entries) entry.label = kNoLabel;
  }
  return entries;
}

}  // namespace

StatusOr<std::unique_ptr<Dataset>> open_idx_dataset(const std::string& images_path, const std::string& labels_path,
                                                    int64_t limit) {
  KESTREL_ASSIGN_OR_RETURN(Tensor images, read_idx(images_path, limit));
  const bool grey = images.rank() == 3;
  const bool interleaved = images.rank() == 4 && (images.dim(3) == 1 || images.dim(3) == 3);
  if (!grey && !interleaved) {
    return invalid_argument(images_path, ": expected grey images [N,H,W], got ", shape_string(images.shape()));
  }
  Tensor labels;
  if (!labels_path.empty()) {
    KESTREL_ASSIGN_OR_RETURN(labels, read_idx(labels_path, limit));
    if (labels.rank() != 1) {
      return invalid_argument(labels_path, ": is not an IDX label file: its shape is ", shape_string(labels.shape()),
                              ", not [N]");
    }
    if (labels.dim(0) != images.dim(0)) {
      return invalid_argument(labels_path, ": has ", labels.dim(0), " labels for ", images.dim(0), " images");
    }
  }
  return std::unique_ptr<Dataset>(new IdxDataset(images_path, std::move(images), std::move(labels)));
}

StatusOr<std::unique_ptr<Dataset>> open_image_folder(const std::string& dir, int64_t limit) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) return not_found(dir, ": no such folder");
  KESTREL_ASSIGN_OR_RETURN(auto images, list_images(dir));
  if (images.empty()) return invalid_argument(dir, ": folder has no .png/.jpg/.jpeg images");
  std::vector<FolderEntry> entries;
  std::vector<std::string> classes;
  bool labelled = true;
  // symlink_status: a labels.txt that is a dangling link or a folder is an error, not absent.
  if (fs::symlink_status(fs::path(dir) / kLabelsFile, error).type() != fs::file_type::not_found) {
    KESTREL_ASSIGN_OR_RETURN(entries, label_from_file(dir, images));
  } else {
    KESTREL_ASSIGN_OR_RETURN(classes, list_class_folders(dir));
    entries = label_from_folders(images, classes, labelled);
    if (!labelled) classes.clear();
  }
  if (limit >= 0 && static_cast<size_t>(limit) < entries.size()) entries.resize(static_cast<size_t>(limit));
  return std::unique_ptr<Dataset>(new ImageFolderDataset(dir, std::move(entries), std::move(classes), labelled));
}

StatusOr<std::unique_ptr<Dataset>> open_dataset(const std::string& path, const std::string& labels_path,
                                                int64_t limit) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    if (!labels_path.empty()) {
      return invalid_argument(labels_path, ": labels files apply to IDX datasets; the labels of the image folder ",
                              path, " are its class folders or its labels.txt");
    }
    return open_image_folder(path, limit);
  }
  return open_idx_dataset(path, labels_path, limit);
}

StatusOr<std::vector<std::string>> read_class_names(const std::string& path) {
  KESTREL_ASSIGN_OR_RETURN(const std::string text, read_regular_file(path, kMaxClassNamesBytes));
  std::istringstream file(text);
  std::vector<std::string> names;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) return invalid_argument(path, ": the class-names file is empty");
  return names;
}

Status check_labels_fit(const Dataset& dataset, int64_t classes, const std::string& source) {
  const std::vector<std::string> folders = dataset.class_names();
  if (folders.size() > static_cast<size_t>(classes)) {
    return invalid_argument(source, ": has ", folders.size(), " class folders ('", folders.front(), "' to '",
                            folders.back(), "') but the model has ", classes, " classes");
  }
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const int64_t label = dataset.label(i);
    if (label != kNoLabel && (label < 0 || label >= classes)) {
      return invalid_argument(source, ": label ", label, " of ", dataset.item_name(i), " is outside the model's ",
                              classes, " classes (0 to ", classes - 1, ")");
    }
  }
  return {};
}

namespace {

class SliceDataset final : public Dataset {
 public:
  SliceDataset(const Dataset& base, int64_t offset, int64_t count) : base_(base), offset_(offset), count_(count) {}
  SliceDataset(std::unique_ptr<Dataset> owned, int64_t offset, int64_t count)
      : owned_(std::move(owned)), base_(*owned_), offset_(offset), count_(count) {}
  int64_t size() const override { return count_; }
  bool has_labels() const override { return base_.has_labels(); }
  StatusOr<Example> get(int64_t index) const override { return base_.get(offset_ + index); }
  int64_t label(int64_t index) const override { return base_.label(offset_ + index); }
  std::string item_name(int64_t index) const override { return base_.item_name(offset_ + index); }
  std::vector<std::string> class_names() const override { return base_.class_names(); }

 private:
  std::unique_ptr<Dataset> owned_;
  const Dataset& base_;
  int64_t offset_, count_;
};

}  // namespace

std::unique_ptr<Dataset> slice_dataset(const Dataset& base, int64_t offset, int64_t count) {
  return std::make_unique<SliceDataset>(base, offset, count);
}

std::unique_ptr<Dataset> slice_dataset(std::unique_ptr<Dataset> base, int64_t offset, int64_t count) {
  return std::make_unique<SliceDataset>(std::move(base), offset, count);
}

StatusOr<std::unique_ptr<Dataset>> open_dataset_slice(const std::string& path, const std::string& labels_path,
                                                      int64_t offset, int64_t count, const std::string& what) {
  if (offset < 0) return invalid_argument(path, ": a negative offset ", offset);
  KESTREL_ASSIGN_OR_RETURN(auto dataset, open_dataset(path, labels_path, count < 0 ? -1 : offset + count));
  const int64_t available = dataset->size();
  if (count < 0) {
    if (offset >= available) {
      return invalid_argument(path, ": has ", available, " images, none from offset ", offset);
    }
    count = available - offset;
  } else if (available < offset + count) {
    return invalid_argument(path, ": has ", available, " images but ", what, " asks for ", count,
                            offset > 0 ? str_cat(" from offset ", offset) : std::string());
  }
  if (offset == 0 && count == available) return dataset;
  return slice_dataset(std::move(dataset), offset, count);
}

}  // namespace kestrel
