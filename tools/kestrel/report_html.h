// The page `kestrel report` writes: one self-contained HTML file (inline
// CSS and SVG, no scripts, nothing fetched) with the FP32 vs INT8 table and
// four plots: latency distribution, per-layer time, per-layer error and
// top-1 per class. Also the table as text, for the terminal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/accuracy.h"
#include "quant/compare.h"
#include "runtime/session.h"

namespace kestrel::cli {

struct LayerTime {
  std::string name, op, kernel;
  double ms = 0;  // mean per run
};

struct ModelMeasurements {
  std::string label;  // "FP32", "INT8"
  std::string path;
  int64_t file_bytes = 0;
  double load_ms = 0;                // median over the load rounds
  int64_t peak_bytes = -1;           // peak resident memory a session added (load + one run); -1: not measurable
  std::vector<double> latencies_ms;  // every timed run, sorted
  Accuracy accuracy;
  std::vector<LayerTime> layers;  // in execution order

  double latency(double fraction) const;  // the run at this fraction of the sorted times
};

struct Report {
  std::string dataset;  // what was evaluated, as given
  int64_t offset = 0;
  int threads = 1;
  int64_t batch = 1;
  int rounds = 0, iterations = 0;  // alternating benchmark rounds of `iterations` runs per model
  std::string cpu;                 // the CPU it ran on
  std::string created;             // UTC time
  ModelMeasurements fp32, int8;
  std::vector<std::string> class_names;  // may be empty (classes shown by index)
  std::vector<TensorComparison> errors;  // worst first
  int64_t error_images = 0;
};

// Markdown table: one row per model.
std::string report_table(const Report& report);
std::string report_html(const Report& report);

}  // namespace kestrel::cli
