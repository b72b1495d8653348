#include "serve/model_runner.h"

#include <algorithm>
#include <cstring>

namespace kestrel::serve {
namespace {

StatusOr<TensorSpec> tensor_spec(const api::TensorInfo& info, int64_t max_batch) {
  if (datatype_name(info.dtype) == "UNDEFINED") {
    return unimplemented("tensor '", info.name, "' has dtype ", api::dtype_name(info.dtype),
                         ", which the protocol cannot carry");
  }
  TensorSpec spec{info.name, info.dtype, info.shape, info.bytes};
  if (max_batch > 0) {
    if (info.shape.empty() || info.shape[0] <= 0) {
      return unimplemented("tensor '", info.name, "' has no batch dim, but the model reports max batch ", max_batch);
    }
    spec.row_bytes = info.bytes / static_cast<size_t>(info.shape[0]);
  }
  return spec;
}

}  // namespace

StatusOr<ModelSignature> model_signature(const api::Model& model) {
  ModelSignature signature;
  signature.max_batch = runtime_max_batch(model);
  for (const api::TensorInfo& info : model.inputs()) {
    KESTREL_ASSIGN_OR_RETURN(TensorSpec spec, tensor_spec(info, signature.max_batch));
    signature.inputs.push_back(std::move(spec));
  }
  for (const api::TensorInfo& info : model.outputs()) {
    KESTREL_ASSIGN_OR_RETURN(TensorSpec spec, tensor_spec(info, signature.max_batch));
    signature.outputs.push_back(std::move(spec));
  }
  return signature;
}

int64_t batch_capacity(const ModelSignature& signature, int64_t requested) {
  if (signature.max_batch <= 0) return 1;
  if (requested <= 0) return signature.max_batch;
  return std::min(requested, signature.max_batch);
}

SessionRunner::SessionRunner(const api::Model& model, const ModelSignature& signature,
                             const api::SessionOptions& options, ModelMetrics& metrics)
    : signature_(signature), session_(model, options), metrics_(metrics) {
  const int64_t staged_rows = std::max<int64_t>(signature.max_batch, 1);
  for (const TensorSpec& spec : signature.inputs) {
    input_shapes_.push_back(spec.shape);
    input_staging_.emplace_back(signature.max_batch > 0 ? spec.row_bytes * static_cast<size_t>(staged_rows) : 0);
  }
  for (const TensorSpec& spec : signature.outputs) {
    output_shapes_.push_back(spec.shape);
    output_staging_.emplace_back(signature.max_batch > 0 ? spec.row_bytes * static_cast<size_t>(staged_rows) : 0);
  }
  inputs_.resize(signature.inputs.size());
  outputs_.resize(signature.outputs.size());
}

void SessionRunner::set_tensors(int64_t rows, std::span<std::vector<std::byte>> inputs,
                                std::span<std::vector<std::byte>> outputs) {
  auto view = [&](const TensorSpec& spec, std::vector<int64_t>& shape, std::vector<std::byte>& buffer) {
    size_t bytes = buffer.size();
    if (signature_.max_batch > 0) {
      shape[0] = rows;
      bytes = spec.row_bytes * static_cast<size_t>(rows);
    }
    return api::Tensor(spec.name.c_str(), spec.dtype, shape, std::span<std::byte>(buffer.data(), bytes));
  };
  for (size_t i = 0; i < inputs_.size(); ++i) inputs_[i] = view(signature_.inputs[i], input_shapes_[i], inputs[i]);
  for (size_t i = 0; i < outputs_.size(); ++i) outputs_[i] = view(signature_.outputs[i], output_shapes_[i], outputs[i]);
}

Status SessionRunner::run(std::span<InferRequest* const> batch) {
  int64_t rows = 0;
  for (const InferRequest* request : batch) rows += request->rows;
  try {
    if (batch.size() == 1) {
      set_tensors(rows, batch[0]->inputs, batch[0]->outputs);
      session_.run(inputs_, outputs_);
    } else {
      KESTREL_RETURN_IF_ERROR(run_stacked(batch, rows));
    }
  } catch (const api::Error& error) {
    return internal_error("model run failed (", error.status_name(), "): ", error.what());
  }
  metrics_.record_execution(rows);
  return {};
}

Status SessionRunner::run_stacked(std::span<InferRequest* const> batch, int64_t rows) {
  if (signature_.max_batch <= 0 || rows > signature_.max_batch) {
    return internal_error("batch of ", rows, " rows exceeds the model's max batch ", signature_.max_batch);
  }
  for (size_t i = 0; i < input_staging_.size(); ++i) {
    std::byte* dst = input_staging_[i].data();
    for (const InferRequest* request : batch) {
      std::memcpy(dst, request->inputs[i].data(), request->inputs[i].size());
      dst += request->inputs[i].size();
    }
  }
  set_tensors(rows, input_staging_, output_staging_);
  session_.run(inputs_, outputs_);
  for (size_t i = 0; i < output_staging_.size(); ++i) {
    const std::byte* src = output_staging_[i].data();
    for (InferRequest* request : batch) {
      std::memcpy(request->outputs[i].data(), src, request->outputs[i].size());
      src += request->outputs[i].size();
    }
  }
  return {};
}

}  // namespace kestrel::serve
