// Runs ONNX's backend node tests (model.onnx + test_data_set_*/input_N.pb,
// output_N.pb) through the importer and the reference interpreter.
//
// A test is in scope when every op of its model has a Kestrel kernel. In-scope
// tests must pass unless listed, with a reason, in the exclude file; a listed
// test that passes is an error too. Out-of-scope tests are counted and
// listed, never silently dropped. Closing line: "N passed, N failed".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "frontend/onnx/onnx_importer.h"
#include "frontend/onnx/onnx_tensor.h"
#include "kernels/op_registry.h"
#include <onnx/onnx_pb.h>
#include "runtime/interpreter.h"

namespace fs = std::filesystem;
using namespace kestrel;

namespace {

constexpr double kRelativeTolerance = 1e-3;  // ONNX backend test defaults
constexpr double kAbsoluteTolerance = 1e-7;

struct Options {
  std::string data_dir = "/usr/share/libonnx-testdata/data/node";
  std::string excludes_path;
  std::string filter;  // regex searched in the test name
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
  const bool is_float = expected.dtype() == DType::kFloat32 || expected.dtype() == DType::kFloat64 ||
                        expected.dtype() == DType::kFloat16;
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

Outcome run_test(const fs::path& dir, std::string* detail) {
  const std::string unknown = unknown_ops(dir / "model.onnx");
  if (!unknown.empty()) {
    *detail = "ops without a kernel: " + unknown;
    return Outcome::kOutOfScope;
  }
  auto imported = import_onnx_file((dir / "model.onnx").string());
  if (!imported.ok()) {
    *detail = imported.status().message();
    return Outcome::kFailed;
  }
  auto graph = std::make_shared<const Graph>(std::move(imported).value());
  auto interpreter = Interpreter::create(graph);
  if (!interpreter.ok()) {
    *detail = interpreter.status().message();
    return Outcome::kFailed;
  }
  std::vector<fs::path> data_sets;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      data_sets.push_back(entry.path());
    }
  }
  std::sort(data_sets.begin(), data_sets.end());
  for (const auto& data_set : data_sets) {
    const auto input_files = numbered_files(data_set, "input_");
    const auto output_files = numbered_files(data_set, "output_");
    if (input_files.size() != graph->inputs.size() || output_files.size() != graph->outputs.size()) {
      *detail = data_set.filename().string() + ": file count does not match the model's inputs/outputs";
      return Outcome::kFailed;
    }
    std::map<std::string, Tensor> inputs;
    for (size_t i = 0; i < input_files.size(); ++i) {
      auto tensor = read_tensor_pb(input_files[i].string());
      if (!tensor.ok()) {
        *detail = tensor.status().message();
        return Outcome::kFailed;
      }
      inputs[graph->value(graph->inputs[i]).name] = std::move(tensor).value();
    }
    auto outputs = interpreter->run(inputs);
    if (!outputs.ok()) {
      *detail = outputs.status().message();
      return Outcome::kFailed;
    }
    for (size_t i = 0; i < output_files.size(); ++i) {
      auto expected = read_tensor_pb(output_files[i].string());
      if (!expected.ok()) {
        *detail = expected.status().message();
        return Outcome::kFailed;
      }
      const std::string difference = compare((*outputs)[i], *expected);
      if (!difference.empty()) {
        *detail = "output '" + graph->value(graph->outputs[i]).name + "' " + difference;
        return Outcome::kFailed;
      }
    }
  }
  return Outcome::kPassed;
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
    else if (arg == "--filter") options.filter = next();
    else if (arg == "--verbose") options.verbose = true;
    else {
      std::cout << "usage: kestrel_conformance [--data-dir DIR] [--excludes FILE] [--filter REGEX] [--verbose]\n"
                   "  Runs ONNX node tests (DIR/test_*) whose ops Kestrel supports; --verbose also lists\n"
                   "  out-of-scope tests and passes.\n";
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_args(argc, argv);
  const auto excludes = read_excludes(options.excludes_path);
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
  std::map<std::string, int> out_of_scope_ops;
  for (const auto& dir : tests) {
    const std::string name = dir.filename().string();
    std::string detail;
    const Outcome outcome = run_test(dir, &detail);
    const auto exclude = excludes.find(name);
    if (outcome == Outcome::kOutOfScope) {
      ++out_of_scope;
      if (options.verbose) std::cout << "OUT OF SCOPE " << name << ": " << detail << "\n";
    } else if (exclude != excludes.end()) {
      if (outcome == Outcome::kPassed) {
        ++failed;
        std::cout << "FAIL " << name << ": passes but is listed as excluded (" << exclude->second
                  << "); remove it from the exclude file\n";
      } else {
        ++excluded;
        if (options.verbose) std::cout << "EXCLUDED " << name << ": " << exclude->second << "\n";
      }
    } else if (outcome == Outcome::kPassed) {
      ++passed;
      if (options.verbose) std::cout << "PASS " << name << "\n";
    } else {
      ++failed;
      std::cout << "FAIL " << name << ": " << detail << "\n";
    }
  }
  for (const auto& [name, reason] : excludes) {
    if (!fs::is_directory(fs::path(options.data_dir) / name)) {
      std::cout << "warning: excluded test " << name << " does not exist\n";
    }
  }
  std::cout << tests.size() << " node tests: " << passed << " passed, " << failed << " failed, " << excluded
            << " excluded (listed with reasons in the exclude file), " << out_of_scope
            << " out of scope (their models use ops Kestrel does not implement; --verbose lists them)\n";
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}
