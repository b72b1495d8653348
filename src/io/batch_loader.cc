#include "io/batch_loader.h"

#include <algorithm>
#include <exception>
#include <string>
#include <system_error>
#include <utility>

#include "base/checked_math.h"

namespace kestrel {
namespace {

// The loader keeps a few batches in memory at once; one larger than this is
// a typo in the batch size or the preprocessing, not a workload.
constexpr int64_t kMaxBatchBytes = int64_t{4} << 30;

}  // namespace

StatusOr<PreprocessedSize> first_image_size(const Dataset& dataset, const PreprocessSpec& spec) {
  if (dataset.size() == 0) return invalid_argument(dataset.item_name(0), ": the dataset has no images");
  KESTREL_ASSIGN_OR_RETURN(Example example, dataset.get(0));
  const Image& image = example.image;
  auto size = preprocessed_size(spec, image.height, image.width, image.channels);
  if (!size.ok()) return size.status().with_context(dataset.item_name(0));
  return size;
}

StatusOr<std::unique_ptr<BatchLoader>> BatchLoader::create(const Dataset& dataset, const PreprocessSpec& spec,
                                                           const PreprocessedSize& size, int64_t count,
                                                           int64_t batch_size, int workers, int prefetch) {
  if (count < 0) return invalid_argument("image count must not be negative; it is ", count);
  if (count > dataset.size()) {
    return invalid_argument("cannot load ", count, " images: the dataset has only ", dataset.size());
  }
  if (batch_size < 1) return invalid_argument("batch size must be at least 1; it is ", batch_size);
  const auto batch_floats = checked_element_count(preprocessed_batch_shape(spec, size, batch_size));
  if (!batch_floats || *batch_floats > kMaxBatchBytes / static_cast<int64_t>(sizeof(float))) {
    return invalid_argument("a batch of ", batch_size, " images of ", size.channels, "x", size.height, "x", size.width,
                            " floats is larger than the limit of ", kMaxBatchBytes, " bytes");
  }
  if (workers < 1) return invalid_argument("batch loader workers must be at least 1; it is ", workers);
  if (prefetch < 1) return invalid_argument("batch loader prefetch must be at least 1; it is ", prefetch);
  const int64_t window = std::max(prefetch, workers);
  std::unique_ptr<BatchLoader> loader(new BatchLoader(dataset, spec, size, count, batch_size, window));
  try {
    loader->start(workers);
  } catch (const std::system_error& error) {
    // The loader's destructor joins the workers that did start.
    return internal_error("cannot start a batch loader thread: ", error.what());
  }
  return loader;
}

BatchLoader::BatchLoader(const Dataset& dataset, const PreprocessSpec& spec, const PreprocessedSize& size,
                         int64_t count, int64_t batch_size, int64_t window)
    : dataset_(dataset),
      spec_(spec),
      size_(size),
      count_(count),
      batch_size_(batch_size),
      batch_count_((count + batch_size - 1) / batch_size),
      window_(window) {}

void BatchLoader::start(int workers) {
  // More threads than batches would only wait.
  const int64_t threads = std::min<int64_t>(workers, batch_count_);
  for (int64_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  slot_free_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void BatchLoader::work() {
  for (;;) {
    int64_t index = 0;
    {
      std::unique_lock lock(mutex_);
      // Nothing more to claim once a batch has failed: next() ends at it.
      const auto nothing_to_claim = [&] {
        return stopping_ || first_failure_ != kNoFailure || next_to_claim_ >= batch_count_;
      };
      slot_free_.wait(lock, [&] { return nothing_to_claim() || next_to_claim_ < next_to_deliver_ + window_; });
      if (nothing_to_claim()) return;
      index = next_to_claim_++;
    }
    StatusOr<Batch> batch = make_batch_or_internal_error(index);
    const bool failed = !batch.ok();
    {
      std::lock_guard lock(mutex_);
      if (failed && (first_failure_ == kNoFailure || index < first_failure_)) first_failure_ = index;
      ready_.emplace(index, std::move(batch));
    }
    batch_ready_.notify_one();
    // Workers waiting for a slot must see the failure to stop waiting.
    if (failed) slot_free_.notify_all();
  }
}

StatusOr<std::optional<Batch>> BatchLoader::next() {
  std::unique_lock lock(mutex_);
  if (error_delivered_ || next_to_deliver_ >= batch_count_) return std::optional<Batch>();
  batch_ready_.wait(lock, [&] { return ready_.count(next_to_deliver_) > 0; });
  auto node = ready_.extract(next_to_deliver_);
  ++next_to_deliver_;
  StatusOr<Batch> batch = std::move(node.mapped());
  if (!batch.ok()) {
    error_delivered_ = true;
    stopping_ = true;  // nothing after an error is delivered, so stop making it
  }
  lock.unlock();
  slot_free_.notify_all();
  if (!batch.ok()) return batch.status();
  return std::optional<Batch>(std::move(batch).value());
}

StatusOr<Batch> BatchLoader::make_batch_or_internal_error(int64_t index) const {
  // An exception escaping a std::thread ends the process; turn it into the
  // batch's error instead (a huge image can fail to allocate).
  try {
    return make_batch(index);
  } catch (const std::exception& error) {
    const int64_t first = index * batch_size_;
    return internal_error(dataset_.item_name(first), " (batch of ", batch_size_, " images from it): ", error.what());
  }
}

StatusOr<Batch> BatchLoader::make_batch(int64_t index) const {
  Batch batch;
  batch.first = index * batch_size_;
  batch.count = std::min(batch_size_, count_ - batch.first);
  batch.input = Tensor(preprocessed_dtype(spec_), preprocessed_batch_shape(spec_, size_, batch_size_));  // zero-filled
  batch.labels.reserve(static_cast<size_t>(batch.count));
  for (int64_t row = 0; row < batch.count; ++row) {
    // The destructor is waiting; nobody will read this batch.
    if (stopping_) return internal_error("batch loader stopped");
    KESTREL_RETURN_IF_ERROR(fill_row(row, batch));
  }
  return batch;
}

Status BatchLoader::fill_row(int64_t row, Batch& batch) const {
  const int64_t image_index = batch.first + row;
  const std::string name = dataset_.item_name(image_index);
  KESTREL_ASSIGN_OR_RETURN(Example example, dataset_.get(image_index));
  const Image& image = example.image;
  auto this_size = preprocessed_size(spec_, image.height, image.width, image.channels);
  if (!this_size.ok()) return this_size.status().with_context(name);
  if (!(*this_size == size_)) {
    return invalid_argument(name, ": preprocesses to ", shape_string(preprocessed_batch_shape(spec_, *this_size, 1)),
                            " but the first image to ", shape_string(preprocessed_batch_shape(spec_, size_, 1)),
                            " (add a resize or center_crop to the spec)");
  }
  const size_t image_bytes = batch.input.nbytes() / static_cast<size_t>(batch_size_);
  void* dst = static_cast<uint8_t*>(batch.input.raw_data()) + static_cast<size_t>(row) * image_bytes;
  KESTREL_RETURN_IF_ERROR(preprocess_image(spec_, image, dst).with_context(name));
  batch.labels.push_back(example.label);
  return {};
}

}  // namespace kestrel
