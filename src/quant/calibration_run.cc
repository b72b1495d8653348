#include "quant/calibration_run.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "io/batch_loader.h"
#include "io/npy.h"
#include "io/preprocess.h"
#include "io/progress.h"
#include "passes/passes.h"
#include "passes/shape_inference.h"
#include "quant/calibrator.h"

namespace kestrel {
namespace {

bool is_npy(const std::string& path) { return std::filesystem::path(path).extension() == ".npy"; }

StatusOr<std::unique_ptr<Calibrator>> make_calibrator(const Graph& source, const Shape& input_shape,
                                                      const CalibrationData& data,
                                                      const std::vector<std::string>& tensors) {
  if (source.inputs.size() != 1) {
    return invalid_argument("calibration needs a model with one input; this one has ", source.inputs.size());
  }
  Graph graph = source;
  const std::string& input_name = graph.value(graph.inputs[0]).name;
  KESTREL_RETURN_IF_ERROR(set_input_shapes(graph, {{input_name, input_shape}}).with_context("calibration input"));
  KESTREL_RETURN_IF_ERROR(optimize_graph(graph));
  if (data.transform) KESTREL_RETURN_IF_ERROR(data.transform(graph));
  return Calibrator::create(std::move(graph), tensors, data.threads);
}

Status check_slice(const CalibrationData& data) {
  if (data.count <= 0) return invalid_argument("--calibration-count must be positive, got ", data.count);
  if (data.offset < 0) return invalid_argument("--calibration-offset must not be negative, got ", data.offset);
  return {};
}

StatusOr<CalibrationResult> calibrate_npy(const Graph& source, const CalibrationData& data,
                                          const std::vector<std::string>& tensors) {
  KESTREL_ASSIGN_OR_RETURN(const Tensor all, read_npy(data.path));
  if (all.dtype() != DType::kFloat32 || all.rank() < 1) {
    return invalid_argument(data.path, ": calibration tensors must be float32 [N, ...], got ", dtype_name(all.dtype()),
                            " ", shape_string(all.shape()));
  }
  KESTREL_RETURN_IF_ERROR(check_slice(data));
  if (all.dim(0) < data.offset + data.count) {
    return invalid_argument(data.path, ": has ", all.dim(0), " images but --calibration-count asks for ", data.count,
                            data.offset > 0 ? str_cat(" from offset ", data.offset) : std::string());
  }
  Shape shape = all.shape();
  shape[0] = std::min(data.batch, data.count);
  KESTREL_ASSIGN_OR_RETURN(auto calibrator, make_calibrator(source, shape, data, tensors));
  const int64_t row_floats = all.size() / all.dim(0);
  ProgressBar progress("calibrating", data.count, data.progress);
  for (int64_t first = 0; first < data.count; first += calibrator->batch()) {
    const int64_t rows = std::min(calibrator->batch(), data.count - first);
    Tensor& input = calibrator->input();
    std::fill_n(input.data<float>(), input.size(), 0.0f);
    std::memcpy(input.data<float>(), all.data<float>() + (data.offset + first) * row_floats,
                rows * row_floats * sizeof(float));
    KESTREL_RETURN_IF_ERROR(calibrator->run(rows));
    progress.update(first + rows);
  }
  progress.finish();
  return CalibrationResult{calibrator->stats(), calibrator->first_batch()};
}

StatusOr<CalibrationResult> calibrate_images(const Graph& source, const CalibrationData& data,
                                             const std::vector<std::string>& tensors) {
  if (data.preprocess.empty()) return invalid_argument("calibration images need --preprocess (a JSON spec)");
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(data.preprocess));
  KESTREL_RETURN_IF_ERROR(check_slice(data));
  KESTREL_ASSIGN_OR_RETURN(auto dataset,
                           open_dataset_slice(data.path, "", data.offset, data.count, "--calibration-count"));
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(*dataset, spec));
  const int64_t batch = std::min(data.batch, data.count);
  KESTREL_ASSIGN_OR_RETURN(auto calibrator,
                           make_calibrator(source, preprocessed_batch_shape(spec, size, batch), data, tensors));
  KESTREL_ASSIGN_OR_RETURN(auto loader, BatchLoader::create(*dataset, spec, size, data.count, batch, data.workers));
  ProgressBar progress("calibrating", data.count, data.progress);
  while (true) {
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> next, loader->next());
    if (!next) break;
    Tensor& input = calibrator->input();
    if (input.nbytes() != next->input.nbytes()) {
      return internal_error("calibration batch holds ", next->input.nbytes(), " bytes, the model input ",
                            input.nbytes());
    }
    std::memcpy(input.raw_data(), next->input.raw_data(), input.nbytes());
    KESTREL_RETURN_IF_ERROR(calibrator->run(next->count));
    progress.update(next->first + next->count);
  }
  progress.finish();
  return CalibrationResult{calibrator->stats(), calibrator->first_batch()};
}

StatusOr<CalibrationResult> calibrate_source(const Graph& source, const CalibrationData& data,
                                             const std::vector<std::string>& tensors) {
  if (data.source_shape.empty() || shape_size(data.source_shape) <= 0) {
    return invalid_argument("calibration batches need a shape, got ", shape_string(data.source_shape));
  }
  KESTREL_ASSIGN_OR_RETURN(auto calibrator, make_calibrator(source, data.source_shape, data, tensors));
  while (true) {
    Tensor& input = calibrator->input();
    std::fill_n(input.data<float>(), input.size(), 0.0f);
    KESTREL_ASSIGN_OR_RETURN(const int64_t rows, data.source(input));
    if (rows == 0) break;
    if (rows < 0 || rows > calibrator->batch()) {
      return invalid_argument("the calibration source returned ", rows, " rows for a batch of ", calibrator->batch());
    }
    KESTREL_RETURN_IF_ERROR(calibrator->run(rows));
  }
  if (calibrator->images() == 0) return invalid_argument("the calibration source gave no images");
  return CalibrationResult{calibrator->stats(), calibrator->first_batch()};
}

}  // namespace

StatusOr<CalibrationResult> calibrate(const Graph& source, const CalibrationData& data,
                                      const std::vector<std::string>& tensors) {
  if (data.batch <= 0) return invalid_argument("calibration batch must be positive, got ", data.batch);
  auto stats = data.source         ? calibrate_source(source, data, tensors)
               : is_npy(data.path) ? calibrate_npy(source, data, tensors)
                                   : calibrate_images(source, data, tensors);
  if (!stats.ok()) return stats.status().with_context("calibration");
  return stats;
}

}  // namespace kestrel
