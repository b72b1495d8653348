// Runs batches of requests on one kestrel::api::Session: stacks their inputs
// along dim 0, runs once, splits the outputs back. Buffers are made once,
// for the largest batch, so a run allocates nothing.
#pragma once

#include <cstdint>
#include <kestrel/kestrel.hpp>
#include <span>
#include <vector>

#include "base/status.h"
#include "serve/batcher.h"
#include "serve/metrics.h"
#include "serve/protocol.h"

namespace kestrel::serve {

// How the runtime batches: a model converted with `kestrel convert
// --max-batch N` reports Model::max_batch() = N, and its Session::run takes
// any dim 0 of 1..N (other dims as compiled); a fixed-shape model reports 0
// and runs at its compiled shapes only.
inline int64_t runtime_max_batch(const api::Model& model) { return model.max_batch(); }

// The model's inputs and outputs as the server checks and answers them.
StatusOr<ModelSignature> model_signature(const api::Model& model);

// Rows one run may stack: `requested` (0: the model's max batch) clamped to
// the model's max batch; 1 for a model without one (each request runs alone).
int64_t batch_capacity(const ModelSignature& signature, int64_t requested);

class SessionRunner {
 public:
  SessionRunner(const api::Model& model, const ModelSignature& signature, const api::SessionOptions& options,
                ModelMetrics& metrics);

  // The Batcher's runner: every request's outputs (already sized) filled.
  Status run(std::span<InferRequest* const> batch);

 private:
  // Batches of one request run on its own buffers; larger ones stack here.
  Status run_stacked(std::span<InferRequest* const> batch, int64_t rows);
  void set_tensors(int64_t rows, std::span<std::vector<std::byte>> inputs, std::span<std::vector<std::byte>> outputs);

  const ModelSignature& signature_;
  api::Session session_;
  ModelMetrics& metrics_;
  std::vector<std::vector<int64_t>> input_shapes_, output_shapes_;
  std::vector<std::vector<std::byte>> input_staging_, output_staging_;  // max_batch rows each
  std::vector<api::Tensor> inputs_, outputs_;
};

}  // namespace kestrel::serve
