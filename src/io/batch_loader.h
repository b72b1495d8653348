// Batches of preprocessed dataset images, made on background threads so that
// decoding and preprocessing overlap with inference (eval, calibration).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/status.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "ir/tensor.h"

namespace kestrel {

struct Batch {
  Tensor
      input;  // preprocessed_dtype(spec), preprocessed_batch_shape(spec, size, batch_size); rows past `count` are zero
  std::vector<int64_t> labels;  // `count` labels (kNoLabel when the dataset has none)
  int64_t first = 0;            // dataset index of row 0
  int64_t count = 0;            // real images in this batch (the last one may be partial)
};

class BatchLoader {
 public:
  // Preprocesses dataset images [0, count) in batches of `batch_size` on
  // `workers` background threads (at least 1), keeping at most `prefetch`
  // batches made or being made ahead of the consumer, so decoding overlaps
  // with inference. A `prefetch` below `workers` is raised to `workers`: a
  // smaller window would leave workers idle. `size` is the preprocessed size
  // every image must have; an image that preprocesses to another size is an
  // error naming it. `dataset` must outlive the loader.
  static StatusOr<std::unique_ptr<BatchLoader>> create(const Dataset& dataset, const PreprocessSpec& spec,
                                                       const PreprocessedSize& size, int64_t count, int64_t batch_size,
                                                       int workers = 1, int prefetch = 2);
  ~BatchLoader();  // stops and joins the workers, even mid-way
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch in dataset order; std::nullopt after the last one. An error
  // (unreadable image, wrong size...) is returned once, in order, at the batch
  // where it happened; every later call returns std::nullopt.
  StatusOr<std::optional<Batch>> next();

  int64_t batch_count() const { return batch_count_; }

 private:
  BatchLoader(const Dataset& dataset, const PreprocessSpec& spec, const PreprocessedSize& size, int64_t count,
              int64_t batch_size, int64_t window);
  void start(int workers);
  void work();
  StatusOr<Batch> make_batch(int64_t index) const;
  StatusOr<Batch> make_batch_or_internal_error(int64_t index) const;
  // Decodes and preprocesses image batch.first + row into row `row`.
  Status fill_row(int64_t row, Batch& batch) const;

  const Dataset& dataset_;
  const PreprocessSpec spec_;
  const PreprocessedSize size_;
  const int64_t count_;
  const int64_t batch_size_;
  const int64_t batch_count_;
  const int64_t window_;  // batches made or being made ahead of the consumer

  std::mutex mutex_;
  std::condition_variable batch_ready_;  // a worker finished a batch
  std::condition_variable slot_free_;    // the consumer took a batch, or the loader is stopping
  int64_t next_to_claim_ = 0;            // the batch the next idle worker makes
  int64_t next_to_deliver_ = 0;          // the batch next() returns next
  static constexpr int64_t kNoFailure = -1;
  int64_t first_failure_ = kNoFailure;        // the earliest batch known to fail; nothing after it is made
  bool error_delivered_ = false;              // next() returned an error, so it returns nothing more
  std::atomic<bool> stopping_ = false;        // read without the lock between images, so a stop is quick
  std::map<int64_t, StatusOr<Batch>> ready_;  // finished batches not yet delivered, by index
  std::vector<std::thread> workers_;
};

// The preprocessed size of dataset image 0, which fixes the model input's
// shape (errors name the image).
StatusOr<PreprocessedSize> first_image_size(const Dataset& dataset, const PreprocessSpec& spec);

}  // namespace kestrel
