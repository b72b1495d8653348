#include "quant/calibrator.h"

#include <cstring>

#include "passes/compile.h"
#include "runtime/session.h"

namespace kestrel {

StatusOr<std::unique_ptr<Calibrator>> Calibrator::create(Graph graph, const std::vector<std::string>& tensors,
                                                         int threads) {
  if (graph.inputs.size() != 1) {
    return invalid_argument("calibration needs a model with one input; this one has ", graph.inputs.size());
  }
  const Value& input = graph.value(graph.inputs[0]);
  if (input.dtype != DType::kFloat32 || input.shape.empty()) {
    return invalid_argument("calibration needs a float32 input with a batch dim; '", input.name, "' is ",
                            dtype_name(input.dtype), " ", shape_string(input.shape));
  }
  for (const std::string& name : tensors) {
    if (graph.find_value(name) == kNoValue) return invalid_argument("no tensor named '", name, "' to calibrate");
  }
  std::unique_ptr<Calibrator> calibrator(new Calibrator());
  for (const std::string& name : tensors) calibrator->stats_.emplace(name, TensorStats());
  KESTREL_ASSIGN_OR_RETURN(CompiledGraph lowered, lower_for_cpu(std::move(graph)));
  auto shared = std::make_shared<const Graph>(std::move(lowered.graph));
  KESTREL_ASSIGN_OR_RETURN(calibrator->session_, Session::create(shared, lowered.plan, {.threads = threads}));
  Calibrator* self = calibrator.get();
  const Graph* g = shared.get();
  calibrator->session_->set_observer([self, g](const Node& node, const std::vector<const Tensor*>& outputs) {
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto it = self->stats_.find(g->value(node.outputs[i]).name);
      if (it != self->stats_.end()) self->observe(*outputs[i], it->second);
    }
  });
  return calibrator;
}

Calibrator::~Calibrator() = default;

Tensor& Calibrator::input() { return session_->input(0); }

int64_t Calibrator::batch() const { return session_->input(0).dim(0); }

void Calibrator::observe(const Tensor& tensor, TensorStats& stats) const {
  if (tensor.dtype() != DType::kFloat32 || tensor.rank() == 0) return;
  // The batch dim is outermost in every layout, so the first rows are a prefix.
  const int64_t per_row = tensor.size() / tensor.dim(0);
  stats.add(tensor.data<float>(), per_row * rows_);
}

Status Calibrator::run(int64_t count) {
  if (count <= 0 || count > batch())
    return invalid_argument("calibration batch of ", count, " rows; the model takes ", batch());
  rows_ = count;
  if (images_ == 0) {
    Shape shape = input().shape();
    shape[0] = count;
    first_batch_ = Tensor(DType::kFloat32, shape);
    std::memcpy(first_batch_.raw_data(), input().raw_data(), first_batch_.nbytes());
  }
  const std::string& input_name = session_->graph().value(session_->graph().inputs[0]).name;
  if (auto it = stats_.find(input_name); it != stats_.end()) observe(input(), it->second);
  KESTREL_RETURN_IF_ERROR(session_->run());
  images_ += count;
  return {};
}

}  // namespace kestrel
