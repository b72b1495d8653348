#include "compare_models.h"

#include <cstring>
#include <functional>
#include <memory>

#include "commands.h"
#include "io/batch_loader.h"
#include "io/progress.h"
#include "passes/shape_inference.h"
#include "runtime/interpreter.h"

namespace kestrel::cli {
namespace {

// A model of either kind, run on one batch at a time, reporting each node's outputs.
class Runner {
 public:
  static StatusOr<Runner> open(const std::string& path, const Shape& batch_shape, int threads) {
    Runner runner;
    runner.path_ = path;
    KESTREL_ASSIGN_OR_RETURN(const auto names, model_input_names(path));
    if (names.size() != 1)
      return invalid_argument(path, ": compare needs a model with one input, this one has ", names.size());
    if (is_kestrel_file(path)) {
      KESTREL_ASSIGN_OR_RETURN(OpenedModel opened, open_model(path, {}, {.threads = threads}));
      runner.session_ = std::move(opened.session);
    } else {
      // The reference interpreter, on the imported graph at this batch shape.
      KESTREL_ASSIGN_OR_RETURN(auto imported, load_onnx_model(path));
      Graph graph = *imported;
      KESTREL_RETURN_IF_ERROR(set_input_shapes(graph, {{names[0], batch_shape}}).with_context(path));
      auto shared = std::make_shared<const Graph>(std::move(graph));
      KESTREL_ASSIGN_OR_RETURN(Interpreter interpreter, Interpreter::create(shared));
      runner.interpreter_ = std::make_unique<Interpreter>(std::move(interpreter));
      runner.input_name_ = names[0];
      runner.input_shape_ = batch_shape;
    }
    return runner;
  }

  const Graph& graph() const { return session_ ? session_->graph() : interpreter_->graph(); }
  Shape input_shape() const { return session_ ? session_->input(0).shape() : input_shape_; }

  Status run(const Tensor& input, const std::function<void(const Node&, const std::vector<const Tensor*>&)>& observe) {
    if (session_) {
      session_->set_observer(observe);
      std::memcpy(session_->input(0).raw_data(), input.raw_data(), input.nbytes());
      return session_->run().with_context(path_);
    }
    auto outputs = interpreter_->run({{input_name_, input}}, observe);
    return outputs.ok() ? Status() : outputs.status().with_context(path_);
  }

 private:
  std::string path_, input_name_;
  Shape input_shape_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<Interpreter> interpreter_;
};

}  // namespace

StatusOr<ModelComparison> compare_models(const std::string& reference_path, const std::string& candidate_path,
                                         const Dataset& slice, const PreprocessSpec& spec, int threads,
                                         const std::string& progress_label) {
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(slice, spec));
  // A .kestrel file fixes the batch; an .onnx reference runs at the candidate's.
  const Shape one = preprocessed_batch_shape(spec, size, 1);
  KESTREL_ASSIGN_OR_RETURN(Runner candidate, Runner::open(candidate_path, one, threads));
  const Shape batch_shape = candidate.input_shape();
  KESTREL_ASSIGN_OR_RETURN(Runner reference, Runner::open(reference_path, batch_shape, threads));
  if (reference.input_shape() != batch_shape) {
    return invalid_argument("the two models take different inputs: ", reference_path, " ",
                            shape_string(reference.input_shape()), ", ", candidate_path, " ",
                            shape_string(batch_shape));
  }
  const Shape expected = preprocessed_batch_shape(spec, size, batch_shape[0]);
  if (expected != batch_shape) {
    return invalid_argument(candidate_path, ": takes input ", shape_string(batch_shape),
                            " but the preprocessing makes ", shape_string(expected));
  }
  const int64_t batch = batch_shape[0];
  KESTREL_ASSIGN_OR_RETURN(auto loader, BatchLoader::create(slice, spec, size, slice.size(), batch));
  TensorComparer comparer;
  ProgressBar progress(progress_label, slice.size(), !progress_label.empty() && ProgressBar::stderr_is_terminal());
  int64_t images = 0;
  for (;;) {
    KESTREL_ASSIGN_OR_RETURN(std::optional<Batch> next, loader->next());
    if (!next) break;
    const Graph& ref_graph = reference.graph();
    KESTREL_RETURN_IF_ERROR(reference.run(next->input, [&](const Node& node, const std::vector<const Tensor*>& out) {
      for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] != nullptr) comparer.add_reference(ref_graph.value(node.outputs[i]), *out[i]);
      }
    }));
    const Graph& cand_graph = candidate.graph();
    KESTREL_RETURN_IF_ERROR(candidate.run(next->input, [&](const Node& node, const std::vector<const Tensor*>& out) {
      for (size_t i = 0; i < out.size(); ++i) {
        if (out[i] != nullptr) comparer.add_candidate(cand_graph.value(node.outputs[i]), node.name, *out[i]);
      }
    }));
    comparer.end_run();
    images += next->count;
    progress.update(images);
  }
  progress.finish();
  ModelComparison comparison{.images = images, .rows = comparer.results()};
  if (comparison.rows.empty()) {
    return invalid_argument(reference_path, " and ", candidate_path, ": no tensor has the same name in both");
  }
  return comparison;
}

}  // namespace kestrel::cli
