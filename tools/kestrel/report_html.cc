#include "report_html.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

namespace kestrel::cli {
namespace {

constexpr char kFp32Color[] = "#4c78a8";
constexpr char kInt8Color[] = "#f58518";
// Plots keep to this many rows (layers, tensors) or classes; the rest are summed or named in a line.
constexpr size_t kMaxRows = 30;
constexpr size_t kMaxClasses = 40;

std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* pattern, ...) {
  va_list args;
  va_start(args, pattern);
  std::vector<char> buffer(256);
  va_list copy;
  va_copy(copy, args);
  const int needed = std::vsnprintf(buffer.data(), buffer.size(), pattern, copy);
  va_end(copy);
  if (needed >= static_cast<int>(buffer.size())) {
    buffer.resize(static_cast<size_t>(needed) + 1);
    std::vsnprintf(buffer.data(), buffer.size(), pattern, args);
  }
  va_end(args);
  return needed < 0 ? std::string() : std::string(buffer.data());
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string shorten(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  return "…" + text.substr(text.size() - (limit - 1));
}

std::string megabytes(int64_t bytes) { return bytes < 0 ? "n/a" : format("%.1f MB", static_cast<double>(bytes) / 1e6); }

double median_of(const ModelMeasurements& m) { return m.latency(0.5); }

// About `count` round tick values covering [0, top].
std::vector<double> ticks(double top, int count) {
  if (!(top > 0)) return {0.0};
  const double raw = top / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> values;
  for (double v = 0; v <= top * (1 + 1e-9); v += step) values.push_back(v);
  return values;
}

std::string tick_label(double value) {
  if (value == 0) return "0";
  if (std::fabs(value) >= 100) return format("%.0f", value);
  if (std::fabs(value) >= 1) return format("%.4g", value);
  return format("%.3g", value);
}

std::string legend(double x, double y) {
  return format(
      "<rect x='%.0f' y='%.0f' width='12' height='12' fill='%s'/><text x='%.0f' y='%.0f'>FP32</text>"
      "<rect x='%.0f' y='%.0f' width='12' height='12' fill='%s'/><text x='%.0f' y='%.0f'>INT8</text>",
      x, y, kFp32Color, x + 16, y + 10, x + 70, y, kInt8Color, x + 86, y + 10);
}

// Latency distribution: the share of runs per latency bin, both models on one axis.
std::string latency_plot(const Report& report) {
  const double width = 1000, height = 300, left = 60, right = 20, top = 30, bottom = 45;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  // Up to well past the slower model's 95th percentile: a noisy machine's
  // few far stragglers would squeeze everything else into one bin.
  const double hi = 1.5 * std::max(report.fp32.latency(0.95), report.int8.latency(0.95));
  constexpr int kBins = 100;
  std::string svg =
      format("<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' class='plot'>", width, height);
  std::vector<std::vector<double>> shares;
  double max_share = 0;
  for (const ModelMeasurements* m : {&report.fp32, &report.int8}) {
    std::vector<double> bins(kBins, 0.0);
    for (double t : m->latencies_ms) {
      const int bin = std::min(kBins - 1, static_cast<int>(t / hi * kBins));
      bins[static_cast<size_t>(bin)] += 100.0 / static_cast<double>(m->latencies_ms.size());
    }
    max_share = std::max(max_share, *std::max_element(bins.begin(), bins.end()));
    shares.push_back(std::move(bins));
  }
  const std::vector<double> y_ticks = ticks(max_share, 4);
  const double y_top = y_ticks.back() > 0 ? std::max(y_ticks.back(), max_share) : 1.0;
  for (double v : y_ticks) {
    const double y = top + plot_h - v / y_top * plot_h;
    svg += format("<line x1='%.0f' x2='%.0f' y1='%.1f' y2='%.1f' class='grid'/>", left, left + plot_w, y, y);
    svg += format("<text x='%.0f' y='%.1f' text-anchor='end'>%s %%</text>", left - 6, y + 4, tick_label(v).c_str());
  }
  for (double v : ticks(hi, 8)) {
    const double x = left + v / hi * plot_w;
    svg += format("<line x1='%.1f' x2='%.1f' y1='%.0f' y2='%.0f' class='axis'/>", x, x, top + plot_h, top + plot_h + 4);
    svg +=
        format("<text x='%.1f' y='%.0f' text-anchor='middle'>%s</text>", x, top + plot_h + 18, tick_label(v).c_str());
  }
  svg += format(
      "<text x='%.0f' y='%.0f' text-anchor='middle'>latency per run (ms); the last bin holds every "
      "slower run</text>",
      left + plot_w / 2, height - 6);
  const char* colors[] = {kFp32Color, kInt8Color};
  const double bin_w = plot_w / kBins;
  for (size_t m = 0; m < 2; ++m) {
    for (int b = 0; b < kBins; ++b) {
      const double share = shares[m][static_cast<size_t>(b)];
      if (share <= 0) continue;
      const double h = share / y_top * plot_h;
      svg += format(
          "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s' fill-opacity='0.75'>"
          "<title>%s: %.1f %% of runs in %.3f..%.3f ms</title></rect>",
          left + b * bin_w, top + plot_h - h, std::max(1.0, bin_w - 1), h, colors[m], m == 0 ? "FP32" : "INT8", share,
          b * hi / kBins, (b + 1) * hi / kBins);
    }
  }
  for (size_t m = 0; m < 2; ++m) {
    const ModelMeasurements& model = m == 0 ? report.fp32 : report.int8;
    const double x = left + std::min(1.0, median_of(model) / hi) * plot_w;
    svg += format("<line x1='%.1f' x2='%.1f' y1='%.0f' y2='%.0f' stroke='%s' stroke-dasharray='4 3'/>", x, x, top,
                  top + plot_h, colors[m]);
    svg += format("<text x='%.1f' y='%.0f' fill='%s' text-anchor='%s'>median %.3f ms</text>", x + (m == 0 ? 4 : -4),
                  top + 12 + 14.0 * static_cast<double>(m), colors[m], m == 0 ? "start" : "end", median_of(model));
  }
  svg += format("<line x1='%.0f' x2='%.0f' y1='%.0f' y2='%.0f' class='axis'/>", left, left + plot_w, top + plot_h,
                top + plot_h);
  svg += legend(width - right - 130, 6);
  return svg + "</svg>";
}

// A horizontal chart: rows with a label and up to two bars each.
struct BarRow {
  std::string label, tooltip;
  double value[2] = {-1, -1};  // < 0: no bar
  std::string text[2];         // written after each bar
};

std::string bar_chart(const std::vector<BarRow>& rows, double scale_max, const std::string& axis_label,
                      const std::string& bar_names0, const std::string& bar_names1, bool show_legend) {
  const double width = 1200, label_w = 340, bar_w = 430, row_h = 30, top = 30, bottom = 40;
  const double height = top + row_h * static_cast<double>(rows.size()) + bottom;
  std::string svg =
      format("<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' class='plot'>", width, height);
  const double plot_bottom = top + row_h * static_cast<double>(rows.size());
  for (double v : ticks(scale_max, 6)) {
    const double x = label_w + v / scale_max * bar_w;
    if (x > label_w + bar_w + 1) break;
    svg += format("<line x1='%.1f' x2='%.1f' y1='%.0f' y2='%.0f' class='grid'/>", x, x, top, plot_bottom);
    svg += format("<text x='%.1f' y='%.0f' text-anchor='middle'>%s</text>", x, plot_bottom + 16, tick_label(v).c_str());
  }
  svg += format("<text x='%.0f' y='%.0f' text-anchor='middle'>%s</text>", label_w + bar_w / 2, height - 8,
                escape(axis_label).c_str());
  const char* colors[] = {kFp32Color, kInt8Color};
  for (size_t r = 0; r < rows.size(); ++r) {
    const BarRow& row = rows[r];
    const double y = top + row_h * static_cast<double>(r);
    svg += format("<g><title>%s</title>", escape(row.tooltip.empty() ? row.label : row.tooltip).c_str());
    svg += format("<text x='%.0f' y='%.1f' text-anchor='end' class='mono'>%s</text>", label_w - 8, y + 18,
                  escape(shorten(row.label, 46)).c_str());
    for (int b = 0; b < 2; ++b) {
      if (row.value[b] < 0) continue;
      const double w = std::max(1.0, std::min(1.0, row.value[b] / scale_max) * bar_w);
      const double bar_y = y + 4 + 11.0 * b;
      svg += format("<rect x='%.0f' y='%.1f' width='%.1f' height='10' fill='%s'/>", label_w, bar_y, w, colors[b]);
      svg += format("<text x='%.1f' y='%.1f' class='small'>%s</text>", label_w + w + 5, bar_y + 9,
                    escape(row.text[b]).c_str());
    }
    svg += "</g>";
  }
  if (show_legend) {
    svg += format(
        "<rect x='%.0f' y='6' width='12' height='12' fill='%s'/><text x='%.0f' y='16'>%s</text>"
        "<rect x='%.0f' y='6' width='12' height='12' fill='%s'/><text x='%.0f' y='16'>%s</text>",
        label_w, colors[0], label_w + 16, escape(bar_names0).c_str(), label_w + 260, colors[1], label_w + 276,
        escape(bar_names1).c_str());
  }
  return svg + "</svg>";
}

std::string layer_time_plot(const Report& report, std::string& caption) {
  struct Pair {
    const LayerTime* layer[2] = {nullptr, nullptr};
    size_t order = 0;
  };
  std::map<std::string, Pair> by_name;
  size_t order = 0;
  for (int m = 0; m < 2; ++m) {
    for (const LayerTime& layer : (m == 0 ? report.fp32 : report.int8).layers) {
      Pair& pair = by_name[layer.name];
      if (pair.layer[0] == nullptr && pair.layer[1] == nullptr) pair.order = order++;
      pair.layer[m] = &layer;
    }
  }
  std::vector<const Pair*> pairs;
  pairs.reserve(by_name.size());
  for (const auto& [name, pair] : by_name) pairs.push_back(&pair);
  auto slowest = [](const Pair* p) {
    return std::max(p->layer[0] ? p->layer[0]->ms : 0.0, p->layer[1] ? p->layer[1]->ms : 0.0);
  };
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Pair* a, const Pair* b) {
    return slowest(a) != slowest(b) ? slowest(a) > slowest(b) : a->order < b->order;
  });
  std::vector<BarRow> rows;
  double scale = 0, rest[2] = {0, 0};
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i >= kMaxRows) {
      for (int m = 0; m < 2; ++m) rest[m] += pairs[i]->layer[m] ? pairs[i]->layer[m]->ms : 0.0;
      continue;
    }
    BarRow row;
    for (int m = 0; m < 2; ++m) {
      const LayerTime* layer = pairs[i]->layer[m];
      if (layer == nullptr) continue;
      row.label = layer->name;
      row.value[m] = layer->ms;
      row.text[m] = format("%.3f ms  %s", layer->ms, layer->kernel.c_str());
      row.tooltip += format("%s%s: %s, %s, %.4f ms", row.tooltip.empty() ? "" : "\n", m == 0 ? "FP32" : "INT8",
                            layer->op.c_str(), layer->kernel.c_str(), layer->ms);
      scale = std::max(scale, layer->ms);
    }
    row.tooltip = row.label + "\n" + row.tooltip;
    rows.push_back(std::move(row));
  }
  if (pairs.size() > kMaxRows) {
    BarRow row;
    row.label = format("%zu other layers, summed", pairs.size() - kMaxRows);
    row.tooltip = row.label + " (the bar is cut at the axis's end)";
    for (int m = 0; m < 2; ++m) {
      row.value[m] = rest[m];
      row.text[m] = format("%.3f ms", rest[m]);
    }
    // The scale stays the slowest single layer's: the sum's bar is cut at
    // the axis's end (its label says how long it is).
    rows.push_back(std::move(row));
  }
  caption = format(
      "Mean time per run of each node (%zu of them, slowest first), profiled on %d thread(s) in runs "
      "apart from the timed ones; the kernel that ran it beside each bar.",
      pairs.size(), report.threads);
  return bar_chart(rows, scale > 0 ? scale * 1.05 : 1.0, "milliseconds per run", "FP32", "INT8", true);
}

std::string layer_error_plot(const Report& report, std::string& caption) {
  std::vector<BarRow> rows;
  double scale = 0;
  for (const TensorComparison& e : report.errors) {
    for (double v : {e.own_sqnr_db, e.sqnr_db}) {
      if (std::isfinite(v)) scale = std::max(scale, v);
    }
  }
  scale = std::max(10.0, std::min(scale * 1.05, 100.0));
  size_t shown = 0;
  for (const TensorComparison& e : report.errors) {
    if (shown++ >= kMaxRows) break;
    BarRow row;
    row.label = e.node;
    row.tooltip = format(
        "node %s\ntensor %s (%s, %lld values)\nown SQNR %.2f dB, network SQNR %.2f dB, cosine %.6f, "
        "max |error| %.4g",
        e.node.c_str(), e.tensor.c_str(), e.dtype.c_str(), static_cast<long long>(e.elements), e.own_sqnr_db, e.sqnr_db,
        e.cosine, e.max_abs_error);
    const double values[2] = {e.own_sqnr_db, e.sqnr_db};
    for (int b = 0; b < 2; ++b) {
      if (b == 0 && std::isinf(values[b])) continue;  // a float tensor: no grid of its own
      row.value[b] = std::isinf(values[b]) ? scale : std::max(0.0, values[b]);
      row.text[b] = std::isinf(values[b]) ? "exact" : format("%.1f dB", values[b]);
    }
    if (e.saturated >= 0) row.text[0] += format("  (%.3f %% at the grid's ends)", 100 * e.saturated);
    if (row.value[0] < 0 && row.value[1] >= 0) row.text[1] += "  (" + e.dtype + ", not quantized)";
    rows.push_back(std::move(row));
  }
  caption = format(
      "SQNR of each tensor in both graphs on %lld images, worst of its own first (%zu tensors%s). Own: "
      "the FP32 values put on the INT8 tensor's grid and back (the rounding and clipping of this layer "
      "alone); network: the INT8 model's values against FP32's, everything before included. Higher is "
      "better; below about 20 dB a layer is suspect.",
      static_cast<long long>(report.error_images), report.errors.size(),
      report.errors.size() > kMaxRows ? format(", the worst %zu shown", kMaxRows).c_str() : "");
  return bar_chart(rows, scale, "SQNR (dB)", "own (INT8 grid, this layer alone)", "network (accumulated)", true);
}

std::string class_plot(const Report& report, std::string& caption) {
  const Accuracy& a = report.fp32.accuracy;
  const Accuracy& b = report.int8.accuracy;
  const size_t classes = std::min(a.class_images.size(), b.class_images.size());
  auto rate = [](const Accuracy& acc, size_t c) {
    return acc.class_images[c] > 0
               ? 100.0 * static_cast<double>(acc.class_top1[c]) / static_cast<double>(acc.class_images[c])
               : -1.0;
  };
  std::vector<size_t> shown;
  for (size_t c = 0; c < classes; ++c) {
    if (a.class_images[c] > 0) shown.push_back(c);
  }
  const size_t with_images = shown.size();
  if (shown.size() > kMaxClasses) {
    std::stable_sort(shown.begin(), shown.end(), [&](size_t x, size_t y) {
      return std::fabs(rate(b, x) - rate(a, x)) > std::fabs(rate(b, y) - rate(a, y));
    });
    shown.resize(kMaxClasses);
    std::sort(shown.begin(), shown.end());
  }
  caption = format("Top-1 of the images of each class (%zu classes with images%s).", with_images,
                   with_images > kMaxClasses ? format("; the %zu whose top-1 changed most", kMaxClasses).c_str() : "");
  const double group_w = std::max(24.0, std::min(90.0, 900.0 / static_cast<double>(std::max<size_t>(1, shown.size()))));
  const double left = 60, top = 30, plot_h = 220, bottom = 110;
  const double width = std::max(600.0, left + group_w * static_cast<double>(shown.size()) + 20);
  std::string svg = format("<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' class='plot'>", width,
                           top + plot_h + bottom);
  for (double v : ticks(100, 5)) {
    const double y = top + plot_h - v / 100 * plot_h;
    svg += format("<line x1='%.0f' x2='%.0f' y1='%.1f' y2='%.1f' class='grid'/>", left,
                  left + group_w * static_cast<double>(shown.size()), y, y);
    svg += format("<text x='%.0f' y='%.1f' text-anchor='end'>%s %%</text>", left - 6, y + 4, tick_label(v).c_str());
  }
  const char* colors[] = {kFp32Color, kInt8Color};
  for (size_t i = 0; i < shown.size(); ++i) {
    const size_t c = shown[i];
    const double x = left + group_w * static_cast<double>(i);
    const std::string name =
        c < report.class_names.size() ? format("%zu %s", c, report.class_names[c].c_str()) : format("%zu", c);
    svg += format("<g><title>class %s: %lld images, top-1 FP32 %.2f %%, INT8 %.2f %%</title>", escape(name).c_str(),
                  static_cast<long long>(a.class_images[c]), rate(a, c), rate(b, c));
    for (int m = 0; m < 2; ++m) {
      const double value = rate(m == 0 ? a : b, c);
      const double h = std::max(0.0, value) / 100 * plot_h;
      svg += format("<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'/>", x + 3 + (group_w - 6) / 2 * m,
                    top + plot_h - h, (group_w - 6) / 2 - 1, h, colors[m]);
    }
    const double label_x = x + group_w / 2, label_y = top + plot_h + 14;
    svg += format("<text x='%.1f' y='%.1f' text-anchor='end' transform='rotate(-35 %.1f %.1f)'>%s</text></g>", label_x,
                  label_y, label_x, label_y, escape(shorten(name, 18)).c_str());
  }
  svg += format("<line x1='%.0f' x2='%.0f' y1='%.0f' y2='%.0f' class='axis'/>", left,
                left + group_w * static_cast<double>(shown.size()), top + plot_h, top + plot_h);
  svg += legend(left, 6);
  return svg + "</svg>";
}

std::vector<std::string> table_header() {
  return {"precision", "latency median", "p90",          "p99",       "images/s", "speed-up",
          "top-1",     "top-5",          "top-1 change", "file size", "load",     "peak memory"};
}

std::vector<std::vector<std::string>> table_rows(const Report& report) {
  std::vector<std::vector<std::string>> rows;
  const double fp32_median = median_of(report.fp32);
  for (const ModelMeasurements* m : {&report.fp32, &report.int8}) {
    const double median = median_of(*m);
    rows.push_back(
        {m->label, format("%.3f ms", median), format("%.3f ms", m->latency(0.9)), format("%.3f ms", m->latency(0.99)),
         format("%.0f", 1000.0 * static_cast<double>(report.batch) / median), format("%.2fx", fp32_median / median),
         format("%.2f %%", 100 * m->accuracy.top1_rate()), format("%.2f %%", 100 * m->accuracy.top5_rate()),
         m == &report.fp32 ? std::string("")
                           : format("%+.2f points", 100 * (m->accuracy.top1_rate() - report.fp32.accuracy.top1_rate())),
         megabytes(m->file_bytes), format("%.1f ms", m->load_ms), megabytes(m->peak_bytes)});
  }
  return rows;
}

}  // namespace

double ModelMeasurements::latency(double fraction) const {
  if (latencies_ms.empty()) return 0;
  const size_t index =
      std::min(latencies_ms.size() - 1, static_cast<size_t>(fraction * static_cast<double>(latencies_ms.size())));
  return latencies_ms[index];
}

std::string report_table(const Report& report) {
  std::string out = "|";
  for (const std::string& h : table_header()) out += " " + h + " |";
  out += "\n|";
  for (size_t i = 0; i < table_header().size(); ++i) out += "---|";
  out += "\n";
  for (const auto& row : table_rows(report)) {
    out += "|";
    for (const std::string& cell : row) out += " " + (cell.empty() ? std::string("-") : cell) + " |";
    out += "\n";
  }
  return out;
}

std::string report_html(const Report& report) {
  const std::string fp32_name = escape(report.fp32.path), int8_name = escape(report.int8.path);
  std::string html = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Kestrel report: )" +
                     int8_name + R"(</title>
<style>
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px 32px;color:#222;max-width:1240px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:32px}
p.meta,p.caption{color:#555;font-size:13px;margin:4px 0 10px}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2} td:first-child,th:first-child{text-align:left}
svg.plot{font-size:12px;fill:#222;display:block;margin:6px 0}
svg .grid{stroke:#e3e3e3} svg .axis{stroke:#888} svg .small{font-size:11px;fill:#333}
svg .mono{font-family:"DejaVu Sans Mono",monospace;font-size:11px}
.summary{font-size:15px;margin:12px 0}
</style></head><body>
)";
  const double speedup = median_of(report.fp32) / median_of(report.int8);
  const double change = 100 * (report.int8.accuracy.top1_rate() - report.fp32.accuracy.top1_rate());
  html += "<h1>FP32 vs INT8: " + int8_name + "</h1>\n";
  html += format(
      "<p class='meta'>FP32 %s, INT8 %s<br>%lld images of %s (from image %lld); batch %lld, %d thread(s), "
      "%d alternating rounds of %d runs per model; %s; %s</p>\n",
      fp32_name.c_str(), int8_name.c_str(), static_cast<long long>(report.fp32.accuracy.images),
      escape(report.dataset).c_str(), static_cast<long long>(report.offset), static_cast<long long>(report.batch),
      report.threads, report.rounds, report.iterations, escape(report.cpu).c_str(), escape(report.created).c_str());
  html += format(
      "<p class='summary'><b>INT8 is %.2fx as fast as FP32</b> (median latency %.3f ms vs %.3f ms), top-1 "
      "<b>%+.2f points</b> (%.2f %% vs %.2f %%).</p>\n",
      speedup, median_of(report.int8), median_of(report.fp32), change, 100 * report.int8.accuracy.top1_rate(),
      100 * report.fp32.accuracy.top1_rate());
  html += "<table><tr>";
  for (const std::string& h : table_header()) html += "<th>" + escape(h) + "</th>";
  html += "</tr>\n";
  for (const auto& row : table_rows(report)) {
    html += "<tr>";
    for (const std::string& cell : row) html += "<td>" + escape(cell) + "</td>";
    html += "</tr>\n";
  }
  html += "</table>\n";
  html +=
      "<p class='caption'>Latency: one run of a batch, every timed run of all rounds; images/s from the median. "
      "Load: opening the file to ready to run, in a fresh process (median of 3). Peak memory: the most resident "
      "memory a session added from opening the file through its first run, in that process.</p>\n";
  html += "<h2>Latency distribution</h2>\n" + latency_plot(report) + "\n";
  std::string caption;
  const std::string layers = layer_time_plot(report, caption);
  html += "<h2>Time per layer</h2>\n<p class='caption'>" + escape(caption) + "</p>\n" + layers + "\n";
  const std::string errors = layer_error_plot(report, caption);
  html += "<h2>Error per layer</h2>\n<p class='caption'>" + escape(caption) + "</p>\n" + errors + "\n";
  const std::string classes = class_plot(report, caption);
  html += "<h2>Top-1 per class</h2>\n<p class='caption'>" + escape(caption) + "</p>\n" + classes + "\n";
  html += "<p class='meta'>Written by kestrel report.</p>\n</body></html>\n";
  return html;
}

}  // namespace kestrel::cli
