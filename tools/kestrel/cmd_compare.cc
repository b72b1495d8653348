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
#include "compare_models.h"
#include "io/dataset.h"
#include "io/preprocess.h"

namespace kestrel::cli {
namespace {

struct CompareOptions {
  std::string reference, candidate, dataset, preprocess;
  int64_t count = 16, offset = 0;
  size_t top = 20;
  int threads = 0;
  bool json = false;
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
  KESTREL_ASSIGN_OR_RETURN(const ModelComparison comparison,
                           compare_models(options.reference, options.candidate, *slice, spec, options.threads,
                                          options.json ? "" : "compare"));
  const std::vector<TensorComparison>& rows = comparison.rows;
  const int64_t images = comparison.images;
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
