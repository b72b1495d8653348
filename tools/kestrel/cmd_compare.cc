// kestrel compare: runs a reference and a candidate model on the same images
// and compares every tensor both name alike (quant/compare.h), worst first:
// FP32 vs INT8 .kestrel files, or a .kestrel against its source .onnx run by
// the reference interpreter.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "io/batch_loader.h"
#include "io/dataset.h"
#include "io/preprocess.h"
#include "io/progress.h"
#include "passes/shape_inference.h"
#include "quant/compare.h"
#include "runtime/interpreter.h"

namespace kestrel::cli {
namespace {

struct CompareOptions {
  std::string reference, candidate, dataset, preprocess;
  int64_t count = 16, offset = 0;
  size_t top = 20;
  int threads = 0;
  bool json = false;
};

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

std::string decibels(double db) {
  return std::isinf(db) ? "inf" : str_cat(static_cast<int64_t>(std::lround(db * 100)) / 100.0);
}

Status compare(const CompareOptions& options) {
  KESTREL_ASSIGN_OR_RETURN(const PreprocessSpec spec, read_preprocess_file(options.preprocess));
  if (options.count <= 0) return invalid_argument("--count must be positive, got ", options.count);
  if (options.offset < 0) return invalid_argument("--offset must not be negative, got ", options.offset);
  KESTREL_ASSIGN_OR_RETURN(const std::unique_ptr<Dataset> slice,
                           open_dataset_slice(options.dataset, "", options.offset, options.count, "--count"));
  KESTREL_ASSIGN_OR_RETURN(const PreprocessedSize size, first_image_size(*slice, spec));
  // A .kestrel file fixes the batch; an .onnx reference runs at the candidate's.
  const Shape one = preprocessed_batch_shape(spec, size, 1);
  KESTREL_ASSIGN_OR_RETURN(Runner candidate, Runner::open(options.candidate, one, options.threads));
  const Shape batch_shape = candidate.input_shape();
  KESTREL_ASSIGN_OR_RETURN(Runner reference, Runner::open(options.reference, batch_shape, options.threads));
  if (reference.input_shape() != batch_shape) {
    return invalid_argument("the two models take different inputs: ", options.reference, " ",
                            shape_string(reference.input_shape()), ", ", options.candidate, " ",
                            shape_string(batch_shape));
  }
  const Shape expected = preprocessed_batch_shape(spec, size, batch_shape[0]);
  if (expected != batch_shape) {
    return invalid_argument(options.candidate, ": takes input ", shape_string(batch_shape),
                            " but the preprocessing makes ", shape_string(expected));
  }
  const int64_t batch = batch_shape[0];
  KESTREL_ASSIGN_OR_RETURN(auto loader, BatchLoader::create(*slice, spec, size, options.count, batch));
  TensorComparer comparer;
  ProgressBar progress("compare", options.count, !options.json && ProgressBar::stderr_is_terminal());
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
  const std::vector<TensorComparison> rows = comparer.results();
  if (rows.empty()) {
    return invalid_argument(options.reference, " and ", options.candidate, ": no tensor has the same name in both");
  }
  if (options.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const TensorComparison& r : rows) {
      auto finite = [](double v) { return std::isinf(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
      tensors.push_back({{"tensor", r.tensor},
                         {"node", r.node},
                         {"dtype", r.dtype},
                         {"own_sqnr_db", finite(r.own_sqnr_db)},
                         {"sqnr_db", finite(r.sqnr_db)},
                         {"cosine", r.cosine},
                         {"max_abs_error", r.max_abs_error},
                         {"saturated", r.saturated < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.saturated)}});
    }
    std::cout << nlohmann::json{{"reference", options.reference},
                                {"candidate", options.candidate},
                                {"images", images},
                                {"tensors", tensors}}
                     .dump()
              << "\n";
    return {};
  }
  std::printf("%s vs %s on %lld images: %zu tensors in both, worst own SQNR first%s\n", options.candidate.c_str(),
              options.reference.c_str(), static_cast<long long>(images), rows.size(),
              options.top > 0 && options.top < rows.size() ? str_cat(" (first ", options.top, ")").c_str() : "");
  std::printf("(own: the reference's values on the candidate's int8 grid; network: accumulated up to here)\n");
  std::printf("  %-46s %-40s %-7s %9s %9s %9s %11s %9s\n", "node", "tensor", "dtype", "own dB", "net dB", "cosine",
              "max |err|", "saturated");
  for (size_t i = 0; i < rows.size() && (options.top == 0 || i < options.top); ++i) {
    const TensorComparison& r = rows[i];
    std::printf(
        "  %-46s %-40s %-7s %9s %9s %9.5f %11.4g %9s\n", r.node.substr(0, 46).c_str(), r.tensor.substr(0, 40).c_str(),
        r.dtype.c_str(), decibels(r.own_sqnr_db).c_str(), decibels(r.sqnr_db).c_str(), r.cosine, r.max_abs_error,
        r.saturated < 0 ? "-" : str_cat(static_cast<int64_t>(std::lround(r.saturated * 1e6)) / 1e4, "%").c_str());
  }
  return {};
}

}  // namespace

Command add_compare_command(CLI::App& app) {
  auto options = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Compare two models tensor by tensor on the same images (SQNR, cosine, max error, saturation)");
  cmd->add_option("--reference", options->reference,
                  "Reference model (.kestrel, or .onnx run by the reference interpreter)")
      ->required();
  cmd->add_option("--candidate", options->candidate, "Candidate model (.kestrel or .onnx)")->required();
  cmd->add_option("--dataset", options->dataset, "IDX image file (gzipped or not) or a folder of PNG/JPEG images")
      ->required();
  cmd->add_option("--preprocess", options->preprocess, "Preprocessing spec (JSON)")->required();
  cmd->add_option("--count", options->count, "Images to compare on (default 16)");
  cmd->add_option("--offset", options->offset, "Skip the first K images of the dataset");
  cmd->add_option("--top", options->top, "Rows to print (0: all; default 20)");
  cmd->add_option("--threads", options->threads, "Threads")->check(CLI::Range(1, kMaxSessionThreads));
  cmd->add_flag("--json", options->json, "Print one JSON object with every tensor");
  return [options] { return compare(*options); };
}

}  // namespace kestrel::cli
