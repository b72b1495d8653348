#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "format/model_file.h"
#include "frontend/onnx/onnx_importer.h"
#include "io/preprocess.h"
#include "kernels/image_preprocess.h"
#include "kernels/op_registry.h"
#include "passes/compile.h"
#include "runtime/rebatch.h"

namespace kestrel::cli {
namespace {

Status check_extension(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".onnx" || extension == ".kestrel") return {};
  return unimplemented(path, ": unknown model format '", extension, "' (expected .onnx or .kestrel)");
}

// A .kestrel file runs at the shapes it was compiled for; a variable-batch
// one at any batch 1..N of them, which `batch` receives (0: none asked).
Status check_compiled_shapes(const Graph& graph, const InputShapes& shapes, const std::string& path, int64_t max_batch,
                             int64_t& batch) {
  for (const auto& [name, shape] : shapes) {
    const ValueId id = graph.find_value(name);
    if (id == kNoValue) return invalid_argument(path, ": the model has no input '", name, "'");
    const Shape& compiled = graph.value(id).shape;
    if (max_batch > 0 && shape.size() == compiled.size() && !shape.empty() && shape[0] >= 1 && shape[0] <= max_batch &&
        std::equal(shape.begin() + 1, shape.end(), compiled.begin() + 1)) {
      if (batch > 0 && batch != shape[0]) {
        return invalid_argument(path, ": input '", name, "' asked at batch ", shape[0], ", another at ", batch);
      }
      batch = shape[0];
      continue;
    }
    if (compiled != shape) {
      return invalid_argument(path, ": compiled for input '", name, "' ", shape_string(graph.value(id).shape),
                              ", asked for ", shape_string(shape), " (convert again with --input-shape)");
    }
  }
  return {};
}

}  // namespace

StatusOr<std::vector<std::string>> model_input_names(const std::string& path) {
  std::vector<std::string> names;
  if (is_kestrel_file(path)) {
    KESTREL_ASSIGN_OR_RETURN(ModelFile file, load_model_file(path));
    for (ValueId id : file.graph.inputs) names.push_back(file.graph.value(id).name);
  } else {
    KESTREL_ASSIGN_OR_RETURN(auto graph, load_onnx_model(path));
    for (ValueId id : graph->inputs) names.push_back(graph->value(id).name);
  }
  return names;
}

StatusOr<PreprocessSpec> image_preprocessing(const std::string& model, const std::string& preprocess,
                                             const char* needed_by) {
  if (is_kestrel_file(model)) {
    KESTREL_ASSIGN_OR_RETURN(ModelFile file, load_model_file(model));
    const Graph& graph = file.graph;
    if (!graph.nodes.empty() && graph.nodes.front().op_type == kPreprocessFrameOp && !graph.inputs.empty()) {
      auto stage = read_frame_stage(graph.nodes.front(), graph.value(graph.inputs[0]).shape);
      if (!stage.ok()) return stage.status().with_context(model);
      if (!preprocess.empty()) {
        std::fprintf(stderr, "note: %s has its preprocessing baked in; --preprocess %s is not used\n", model.c_str(),
                     preprocess.c_str());
      }
      PreprocessSpec spec = stage->spec;
      spec.raw_frame = stage->frame;
      return spec;
    }
  }
  if (preprocess.empty()) return invalid_argument(needed_by, " needs --preprocess (a JSON spec)");
  return read_preprocess_file(preprocess);
}

bool is_kestrel_file(const std::string& path) { return std::filesystem::path(path).extension() == ".kestrel"; }

StatusOr<std::shared_ptr<const Graph>> load_onnx_model(const std::string& path) {
  KESTREL_RETURN_IF_ERROR(check_extension(path));
  if (is_kestrel_file(path)) return invalid_argument(path, ": this command needs the source .onnx model");
  KESTREL_ASSIGN_OR_RETURN(Graph graph, import_onnx_file(path));
  return std::make_shared<const Graph>(std::move(graph));
}

StatusOr<OpenedModel> open_model(const std::string& path, const InputShapes& shapes, const SessionOptions& options,
                                 int64_t batch) {
  KESTREL_RETURN_IF_ERROR(check_extension(path));
  const auto start = std::chrono::steady_clock::now();
  OpenedModel opened;
  if (is_kestrel_file(path)) {
    KESTREL_ASSIGN_OR_RETURN(ModelFile file, load_model_file(path));
    auto max_batch = model_max_batch(file.metadata, file.graph);
    if (!max_batch.ok()) return max_batch.status().with_context(path);
    int64_t shapes_batch = 0;
    KESTREL_RETURN_IF_ERROR(check_compiled_shapes(file.graph, shapes, path, *max_batch, shapes_batch));
    if (shapes_batch > 0) batch = shapes_batch;
    if (batch > 0 && *max_batch > 0 && batch > *max_batch) {
      return invalid_argument(path, ": runs batches of 1 to ", *max_batch, ", asked for ", batch,
                              " (convert again with a larger --max-batch)");
    }
    if (batch > 0 && *max_batch == 0 && !file.graph.inputs.empty()) {
      const Shape& compiled = file.graph.value(file.graph.inputs[0]).shape;
      const int64_t compiled_batch = compiled.empty() ? 1 : compiled[0];
      if (compiled_batch != batch) {
        return invalid_argument(path, ": compiled for batch ", compiled_batch, ", asked for ", batch,
                                " (convert again with --input-shape, or with --max-batch for any batch)");
      }
    }
    MemoryPlan plan = std::move(file.plan);
    if (batch > 0 && *max_batch > 0 && batch < *max_batch) {
      auto rebatched = rebatch_graph(file.graph, batch);
      if (!rebatched.ok()) return rebatched.status().with_context(path);
      file.graph = std::move(rebatched).value();
      plan = rebatched_plan(plan, file.graph, *max_batch, batch);
    }
    auto graph = std::make_shared<const Graph>(std::move(file.graph));
    KESTREL_ASSIGN_OR_RETURN(opened.session, Session::create(graph, plan, options));
    if (opened.session->weights_repacked() > 0 && batch > 0 && batch < *max_batch) {
      std::fprintf(stderr,
                   "note: %s: %d of %d layers repacked their weights at load for batch %lld (the file packs "
                   "them for batch %lld)\n",
                   path.c_str(), opened.session->weights_repacked(), opened.session->weights_packed_in_file(),
                   static_cast<long long>(batch), static_cast<long long>(*max_batch));
    } else if (opened.session->weights_repacked() > 0) {
      std::fprintf(stderr,
                   "note: %s: %d of %d layers repacked their weights at load (the file's packed layout is for "
                   "another CPU, thread count or oneDNN build; convert on this machine to load without it)\n",
                   path.c_str(), opened.session->weights_repacked(), opened.session->weights_packed_in_file());
    }
  } else {
    KESTREL_ASSIGN_OR_RETURN(Graph graph, import_onnx_file(path));
    KESTREL_RETURN_IF_ERROR(set_input_shapes(graph, shapes));
    set_dynamic_dims(graph, 1);
    auto compiled = compile_for_cpu(std::move(graph));
    if (!compiled.ok()) return compiled.status().with_context(path);
    auto shared = std::make_shared<const Graph>(std::move(compiled->graph));
    KESTREL_ASSIGN_OR_RETURN(opened.session, Session::create(shared, compiled->plan, options));
  }
  opened.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return opened;
}

}  // namespace kestrel::cli
