// Runs ONNX's backend node tests (model.onnx + test_data_set_*/input_N.pb,
// output_N.pb) through the importer and the reference interpreter, then
// through the compiled path (`kestrel run --model m.onnx`: compile_for_cpu and
// a Session on the fast CPU backend), with the same tolerances.
//
// A test is in scope when every op of its model has a Kestrel kernel. In-scope
// tests must pass unless listed, with a reason, in the exclude file; a listed
// test that passes is an error too. A test the reference interpreter passes
// must pass compiled too, unless listed in the compiled-path exclude file
// (same rules). Out-of-scope tests are counted and listed, never silently
// dropped. Closing line: "N passed, N failed".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <onnx/onnx_pb.h>
#include "frontend/onnx/onnx_importer.h"
#include "frontend/onnx/onnx_tensor.h"
#include "kernels/op_registry.h"
#include "passes/compile.h"
#include "passes/shape_inference.h"
#include "runtime/interpreter.h"
#include "runtime/session.h"

namespace fs = std::filesystem;
using namespace kestrel;

namespace {

constexpr double kRelativeTolerance = 1e-3;  // ONNX backend test defaults
constexpr double kAbsoluteTolerance = 1e-7;

struct Options {
  std::string data_dir = "/usr/share/libonnx-testdata/data/node";
  std::string excludes_path;
  std::string compiled_excludes_path;
  bool compiled = true;  // false: the reference interpreter only
  std::string filter;    // regex searched in the test name
  bool verbose = false;
};

enum class Outcome { kPassed, kFailed, kOutOfScope };

std::vector<fs::path> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<std::pair<int, fs::path>> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".pb") {
      found.emplace_back(std::stoi(name.substr(prefix.size())), entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> paths;
  paths.reserve(found.size());
  for (auto& item : found) paths.push_back(item.second);
  return paths;
}

// Empty string when equal within tolerance, else a description of the worst element.
std::string compare(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype()) {
    return "dtype " + dtype_name(actual.dtype()) + ", expected " + dtype_name(expected.dtype());
  }
  if (actual.shape() != expected.shape()) {
    return "shape " + shape_string(actual.shape()) + ", expected " + shape_string(expected.shape());
  }
  const bool is_float =
      expected.dtype() == DType::kFloat32 || expected.dtype() == DType::kFloat64 || expected.dtype() == DType::kFloat16;
  double worst_excess = 0;
  int64_t worst = -1;
  for (int64_t i = 0; i < expected.size(); ++i) {
    if (!is_float) {
      if (actual.int_at(i) != expected.int_at(i)) return "element " + std::to_string(i) + " differs";
      continue;
    }
    const double a = actual.float_at(i);
    const double e = expected.float_at(i);
    if (std::isnan(e) || std::isnan(a)) {
      if (std::isnan(e) != std::isnan(a)) return "NaN mismatch at element " + std::to_string(i);
      continue;
    }
    if (a == e) continue;  // also equal infinities
    const double excess = std::abs(a - e) - (kAbsoluteTolerance + kRelativeTolerance * std::abs(e));
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (worst < 0) return "";
  std::ostringstream out;
  out << "element " << worst << ": got " << actual.float_at(worst) << ", expected " << expected.float_at(worst);
  return out.str();
}

// Op types of the model's nodes that Kestrel has no kernel for (empty when all are known).
std::string unknown_ops(const fs::path& model_path) {
  std::ifstream file(model_path, std::ios::binary);
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&file)) return "";  // the import reports the parse error
  std::set<std::string> unknown;
  for (const auto& node : model.graph().node()) {
    Node probe;
    probe.op_type = node.op_type();
    probe.domain = node.domain() == "ai.onnx" ? "" : node.domain();
    if (OpRegistry::global().find(probe) == nullptr) unknown.insert(node.domain() + ":" + node.op_type());
  }
  std::string list;
  for (const auto& op : unknown) list += (list.empty() ? "" : ", ") + op;
  return list;
}

struct DataSet {
  std::string name;
  std::map<std::string, Tensor> inputs;
  std::vector<Tensor> expected;
};

// Reads every test_data_set_* of the test; an empty string on success.
std::string read_data_sets(const fs::path& dir, const Graph& graph, std::vector<DataSet>* data_sets) {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      dirs.push_back(entry.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  // A test with nothing to compare would pass without checking anything.
  if (dirs.empty()) return "no test_data_set_* folder: nothing to compare";
  for (const auto& data_dir : dirs) {
    const auto input_files = numbered_files(data_dir, "input_");
    const auto output_files = numbered_files(data_dir, "output_");
    if (input_files.size() != graph.inputs.size() || output_files.size() != graph.outputs.size()) {
      return data_dir.filename().string() + ": file count does not match the model's inputs/outputs";
    }
    DataSet data_set{.name = data_dir.filename().string()};
    for (size_t i = 0; i < input_files.size(); ++i) {
      auto tensor = read_tensor_pb(input_files[i].string());
      if (!tensor.ok()) return tensor.status().message();
      data_set.inputs[graph.value(graph.inputs[i]).name] = std::move(tensor).value();
    }
    for (const auto& output_file : output_files) {
      auto tensor = read_tensor_pb(output_file.string());
      if (!tensor.ok()) return tensor.status().message();
      data_set.expected.push_back(std::move(tensor).value());
    }
    data_sets->push_back(std::move(data_set));
  }
  return "";
}

// Compares a run's outputs with the data set's; an empty string when all match.
std::string compare_outputs(const Graph& graph, const std::vector<Tensor>& outputs, const DataSet& data_set) {
  if (outputs.size() != data_set.expected.size()) {
    return data_set.name + ": " + std::to_string(outputs.size()) + " outputs, expected " +
           std::to_string(data_set.expected.size());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string difference = compare(outputs[i], data_set.expected[i]);
    if (!difference.empty()) return "output '" + graph.value(graph.outputs[i]).name + "' " + difference;
  }
  return "";
}

std::string run_reference(const std::shared_ptr<const Graph>& graph, const std::vector<DataSet>& data_sets) {
  auto interpreter = Interpreter::create(graph);
  if (!interpreter.ok()) return interpreter.status().message();
  for (const DataSet& data_set : data_sets) {
    auto outputs = interpreter->run(data_set.inputs);
    if (!outputs.ok()) return outputs.status().message();
    std::string difference = compare_outputs(*graph, *outputs, data_set);
    if (!difference.empty()) return difference;
  }
  return "";
}

// The compiled path, as `kestrel run --model m.onnx` takes it
// (tools/kestrel/load_model.cc, open_model): the data set's input shapes,
// dynamic dims set to 1, compile_for_cpu (passes, layouts, memory plan) and a
// Session on the fast CPU backend, compiled once per data set because the
// shapes may differ between them.
std::string run_compiled(const Graph& imported, const std::vector<DataSet>& data_sets) {
  for (const DataSet& data_set : data_sets) {
    Graph graph = imported;
    InputShapes shapes;
    for (const auto& [name, tensor] : data_set.inputs) shapes[name] = tensor.shape();
    if (Status status = set_input_shapes(graph, shapes); !status.ok()) return status.message();
    set_dynamic_dims(graph, 1);
    auto compiled = compile_for_cpu(std::move(graph));
    if (!compiled.ok()) return compiled.status().message();
    auto shared = std::make_shared<const Graph>(std::move(compiled->graph));
    auto session = Session::create(shared, compiled->plan, {.pin_threads = false});
    if (!session.ok()) return session.status().message();
    auto outputs = (*session)->run(data_set.inputs);
    if (!outputs.ok()) return outputs.status().message();
    std::string difference = compare_outputs(*shared, *outputs, data_set);
    if (!difference.empty()) return difference;
  }
  return "";
}

struct Result {
  Outcome reference = Outcome::kFailed;
  std::string reference_detail;
  // Only run when the reference interpreter passes.
  std::optional<Outcome> compiled;
  std::string compiled_detail;
};

Result run_test(const fs::path& dir, bool with_compiled) {
  Result result;
  const std::string unknown = unknown_ops(dir / "model.onnx");
  if (!unknown.empty()) {
    result.reference = Outcome::kOutOfScope;
    result.reference_detail = "ops without a kernel: " + unknown;
    return result;
  }
  auto imported = import_onnx_file((dir / "model.onnx").string());
  if (!imported.ok()) {
    result.reference_detail = imported.status().message();
    return result;
  }
  auto graph = std::make_shared<const Graph>(std::move(imported).value());
  std::vector<DataSet> data_sets;
  result.reference_detail = read_data_sets(dir, *graph, &data_sets);
  if (result.reference_detail.empty()) result.reference_detail = run_reference(graph, data_sets);
  if (!result.reference_detail.empty()) return result;
  result.reference = Outcome::kPassed;
  if (with_compiled) {
    result.compiled_detail = run_compiled(*graph, data_sets);
    result.compiled = result.compiled_detail.empty() ? Outcome::kPassed : Outcome::kFailed;
  }
  return result;
}

std::map<std::string, std::string> read_excludes(const std::string& path) {
  std::map<std::string, std::string> excludes;
  if (path.empty()) return excludes;
  std::ifstream file(path);
  if (!file) {
    std::cerr << "error: cannot open exclude file " << path << "\n";
    std::exit(2);
  }
  std::string line;
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string name, reason;
    words >> name;
    std::getline(words, reason);
    if (reason.find_first_not_of(" \t") == std::string::npos) {
      std::cerr << "error: " << path << ": '" << name << "' has no reason\n";
      std::exit(2);
    }
    excludes[name] = reason.substr(reason.find_first_not_of(" \t"));
  }
  return excludes;
}

Options parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "error: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--data-dir") options.data_dir = next();
    else if (arg == "--excludes") options.excludes_path = next();
    else if (arg == "--compiled-excludes") options.compiled_excludes_path = next();
    else if (arg == "--reference-only") options.compiled = false;
    else if (arg == "--filter") options.filter = next();
    else if (arg == "--verbose") options.verbose = true;
    else {
      std::cout << "usage: kestrel_conformance [--data-dir DIR] [--excludes FILE] [--compiled-excludes FILE]\n"
                   "                           [--reference-only] [--filter REGEX] [--verbose]\n"
                   "  Runs ONNX node tests (DIR/test_*) whose ops Kestrel supports on the reference\n"
                   "  interpreter and compiled (unless --reference-only); --verbose also lists\n"
                   "  out-of-scope tests and passes.\n";
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  return options;
}

int run_conformance(int argc, char** argv) {
  const Options options = parse_args(argc, argv);
  const auto excludes = read_excludes(options.excludes_path);
  const auto compiled_excludes = read_excludes(options.compiled_excludes_path);
  if (!fs::is_directory(options.data_dir)) {
    std::cerr << "error: " << options.data_dir << " is not a directory (install libonnx-testdata)\n";
    return 2;
  }
  std::vector<fs::path> tests;
  const std::regex filter(options.filter);
  for (const auto& entry : fs::directory_iterator(options.data_dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && std::regex_search(name, filter)) tests.push_back(entry.path());
  }
  std::sort(tests.begin(), tests.end());

  int passed = 0, failed = 0, excluded = 0, out_of_scope = 0;
  int compiled_passed = 0, compiled_failed = 0, compiled_excluded = 0;
  for (const auto& dir : tests) {
    const std::string name = dir.filename().string();
    const Result result = run_test(dir, options.compiled);
    const auto exclude = excludes.find(name);
    const auto compiled_exclude = compiled_excludes.find(name);
    bool ok = true;
    if (result.reference == Outcome::kOutOfScope) {
      ++out_of_scope;
      if (options.verbose) std::cout << "OUT OF SCOPE " << name << ": " << result.reference_detail << "\n";
      continue;
    }
    if (exclude != excludes.end()) {
      if (result.reference == Outcome::kPassed) {
        ++failed;
        std::cout << "FAIL " << name << ": passes but is listed as excluded (" << exclude->second
                  << "); remove it from the exclude file\n";
      } else {
        ++excluded;
        if (options.verbose) std::cout << "EXCLUDED " << name << ": " << exclude->second << "\n";
      }
      continue;
    }
    if (result.reference != Outcome::kPassed) {
      ++failed;
      std::cout << "FAIL " << name << ": " << result.reference_detail << "\n";
      continue;
    }
    if (result.compiled) {
      if (compiled_exclude != compiled_excludes.end()) {
        if (*result.compiled == Outcome::kPassed) {
          ok = false;
          std::cout << "FAIL " << name << ": passes compiled but is listed in the compiled-path exclude file ("
                    << compiled_exclude->second << "); remove it from there\n";
        } else {
          ++compiled_excluded;
          if (options.verbose) std::cout << "EXCLUDED (compiled) " << name << ": " << compiled_exclude->second << "\n";
        }
      } else if (*result.compiled == Outcome::kPassed) {
        ++compiled_passed;
      } else {
        ok = false;
        std::cout << "FAIL (compiled) " << name << ": " << result.compiled_detail << "\n";
      }
      if (!ok) ++compiled_failed;
    }
    if (ok) {
      ++passed;
      if (options.verbose) std::cout << "PASS " << name << "\n";
    } else {
      ++failed;
    }
  }
  for (const auto* list : {&excludes, &compiled_excludes}) {
    for (const auto& [name, reason] : *list) {
      if (!fs::is_directory(fs::path(options.data_dir) / name)) {
        std::cout << "warning: excluded test " << name << " does not exist\n";
      }
    }
  }
  std::cout << tests.size() << " node tests: " << passed << " passed, " << failed << " failed, " << excluded
            << " excluded (listed with reasons in the exclude file), " << out_of_scope
            << " out of scope (their models use ops Kestrel does not implement; --verbose lists them)\n";
  if (options.compiled) {
    std::cout << "compiled path (compile_for_cpu + Session): " << compiled_passed << " passed, " << compiled_failed
              << " failed, " << compiled_excluded << " excluded (compiled-path exclude file)\n";
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_conformance(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "kestrel_conformance: error: " << error.what() << "\n";
    return 1;
  }
}
