#include "quant/sample_batches.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "passes/compile.h"
#include "quant/compare.h"
#include "runtime/session.h"

namespace kestrel {
namespace {

constexpr double kIdenticalDb = 200.0;

}  // namespace

int64_t SampleBatches::images() const {
  int64_t total = 0;
  for (int64_t count : counts) total += count;
  return total;
}

Status observe_samples(const Graph& graph, const SampleBatches& samples, int threads,
                       const std::set<std::string>& watched, const std::string& what, const SampleObserver& observe) {
  if (samples.batches.empty() || samples.batches.size() != samples.counts.size()) {
    return invalid_argument(what, " needs sample images");
  }
  KESTREL_ASSIGN_OR_RETURN(CompiledGraph compiled, lower_for_cpu(Graph(graph)));
  auto shared = std::make_shared<const Graph>(std::move(compiled.graph));
  KESTREL_ASSIGN_OR_RETURN(auto session, Session::create(shared, compiled.plan, {.threads = threads}));
  const Graph* g = shared.get();
  int64_t rows = 0;
  Status observed;
  const auto add = [&](const Value& value, const Tensor& tensor) {
    if (!observed.ok() || watched.count(value.name) == 0) return;
    observed = observe(value, plain_values(value, tensor), rows);
  };
  session->set_observer([&](const Node& node, const std::vector<const Tensor*>& outputs) {
    for (size_t i = 0; i < outputs.size() && i < node.outputs.size(); ++i) add(g->value(node.outputs[i]), *outputs[i]);
  });
  for (size_t i = 0; i < samples.batches.size(); ++i) {
    Tensor& input = session->input(0);
    if (input.nbytes() != samples.batches[i].nbytes()) {
      return internal_error(what, ": a sample batch holds ", samples.batches[i].nbytes(), " bytes, the model input ",
                            input.nbytes());
    }
    std::memcpy(input.raw_data(), samples.batches[i].raw_data(), input.nbytes());
    rows = samples.counts[i];
    add(g->value(g->inputs[0]), input);  // a graph input comes from no node
    KESTREL_RETURN_IF_ERROR(session->run());
    KESTREL_RETURN_IF_ERROR(observed);
  }
  return {};
}

double signal_to_noise_db(const std::vector<float>& reference, const std::vector<float>& candidate) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < reference.size() && i < candidate.size(); ++i) {
    signal += static_cast<double>(reference[i]) * reference[i];
    const double d = static_cast<double>(reference[i]) - candidate[i];
    noise += d * d;
  }
  return noise == 0 ? kIdenticalDb : 10 * std::log10(std::max(signal, 1e-30) / noise);
}

}  // namespace kestrel
