// Every unique conv shape of the given models, timed on its own in FP32 and
// in INT8 (u8 activations, s8 weights, per-channel scales, ReLU, u8 output:
// the form ResNet-style layers take), with the oneDNN kernel each picks and
// its throughput as a percent of this machine's measured peak (FMA zmm for
// FP32, vpdpbusd zmm for INT8, measured here on the same threads).
//
//   cmake --build build --target conv_shapes && build/conv_shapes --threads 2 M1.kestrel [M2.kestrel ...]
//   (bash bench/conv_shapes.sh converts ResNet-50, MobileNetV2 and the torchvision check set first)
//
// Models are FP32 .kestrel files (shapes only are read). Per shape: 5
// warm-up runs, then the median of 20 (at least 20 ms of runs). Output: one
// line per shape, sorted by model order, then per model the sum of its
// convs' FP32 and INT8 times (every occurrence counted) and their ratio.
// GCC 12's AVX-512 headers trip these on their own _mm512_undefined_*
// placeholders (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "format/model_file.h"
#include "kernels/cpu/depthwise_int8.h"
#include "kernels/onednn/onednn_kernels.h"
#include "kernels/op_registry.h"
#include "kernels/reference/nn_ops_internal.h"

namespace {

using kestrel::onednn::ConvParams;
using kestrel::onednn::ElementType;
using Clock = std::chrono::steady_clock;

// ---- peak ----

__attribute__((target("avx512f"), noinline)) double fma_loop(int64_t iterations) {
  __m512 acc[12];
  for (auto& a : acc) a = _mm512_set1_ps(1.0f);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
    for (auto& a : acc) a = _mm512_fmadd_ps(a, x, y);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx512f,avx512vnni"), noinline)) double vnni_loop(int64_t iterations) {
  __m512i acc[12];
  for (auto& a : acc) a = _mm512_setzero_si512();
  const __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(1);
  for (int64_t i = 0; i < iterations; ++i) {
    for (auto& a : acc) a = _mm512_dpbusd_epi32(a, u, s);
  }
  __m512i sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  return _mm512_reduce_add_epi32(sum);
}

void pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

// Operations per second of `loop` on `threads` pinned threads (best of 3);
// one iteration is 12 instructions of `ops_per_instruction` each.
double peak(double (*loop)(int64_t), double ops_per_instruction, int threads) {
  cpu_set_t allowed;
  sched_getaffinity(0, sizeof(allowed), &allowed);
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
  }
  constexpr int64_t kIterations = 50'000'000;
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(threads));
    volatile double sink = 0;
    const auto start = Clock::now();
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        pin_to(cpus[static_cast<size_t>(t) % cpus.size()]);
        sink = sink + loop(kIterations);
      });
    }
    for (auto& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, 12.0 * ops_per_instruction * static_cast<double>(kIterations) * threads / seconds);
  }
  return best;
}

// ---- shapes ----

struct Shape {
  ConvParams params;
  std::string key;
  std::map<std::string, int> uses;  // model -> occurrences
};

std::string describe(const ConvParams& p) {
  char text[160];
  std::snprintf(text, sizeof(text), "%ldx%ldx%ld -> %ld k%ldx%ld s%ld g%ld", static_cast<long>(p.in_channels),
                static_cast<long>(p.in_h), static_cast<long>(p.in_w), static_cast<long>(p.out_channels),
                static_cast<long>(p.kernel_h), static_cast<long>(p.kernel_w), static_cast<long>(p.stride_h),
                static_cast<long>(p.groups));
  return text;
}

bool conv_params(const kestrel::Graph& graph, const kestrel::Node& node, ConvParams* p) {
  const bool conv = (node.domain.empty() && node.op_type == "Conv") ||
                    (node.domain == kestrel::kKestrelDomain && node.op_type == "FusedConv");
  if (!conv || node.inputs.size() < 2) return false;
  const auto& w = graph.value(node.inputs[1]);
  const auto& in = graph.value(node.inputs[0]).shape;
  const auto& out = graph.value(node.outputs[0]).shape;
  if (!w.constant || w.shape.size() != 4 || in.size() != 4) return false;
  kestrel::nn::Window window;
  if (!kestrel::nn::compute_window(node, {in[2], in[3]}, {w.shape[2], w.shape[3]}, {}, &window).ok()) return false;
  *p = ConvParams{.batch = in[0],
                  .in_channels = in[1],
                  .in_h = in[2],
                  .in_w = in[3],
                  .out_channels = out[1],
                  .out_h = out[2],
                  .out_w = out[3],
                  .kernel_h = w.shape[2],
                  .kernel_w = w.shape[3],
                  .stride_h = window.strides[0],
                  .stride_w = window.strides[1],
                  .dilation_h = window.dilations[0],
                  .dilation_w = window.dilations[1],
                  .pad_top = window.pads_begin[0],
                  .pad_left = window.pads_begin[1],
                  .pad_bottom = window.pads_end[0],
                  .pad_right = window.pads_end[1],
                  .groups = node.attrs.get_int("group", 1)};
  return true;
}

int64_t macs(const ConvParams& p) {
  return p.batch * p.out_channels * p.out_h * p.out_w * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
}

struct Timing {
  double ms = 0;
  std::string kernel;
};

// Median ms of `run` after 5 warm-up runs: at least 20 runs and 20 ms.
template <typename Run>
double median_ms(const Run& run) {
  for (int i = 0; i < 5; ++i) run();
  std::vector<double> times;
  const auto begin = Clock::now();
  while (times.size() < 20 || std::chrono::duration<double, std::milli>(Clock::now() - begin).count() < 20) {
    const auto start = Clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  return times[times.size() / 2];
}

// Median ms of one conv (random data), or ms < 0 when oneDNN refuses it.
Timing time_conv(ConvParams p, bool int8, std::mt19937& rng) {
  const kestrel::DType weight_type = int8 ? kestrel::DType::kInt8 : kestrel::DType::kFloat32;
  kestrel::Tensor weight(weight_type, {p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w});
  auto* bytes = static_cast<uint8_t*>(weight.raw_data());
  for (size_t i = 0; i < weight.nbytes(); ++i)
    bytes[i] = static_cast<uint8_t>(rng() % 7);  // small ints / denormal-free floats
  if (!int8) {
    for (int64_t i = 0; i < weight.size(); ++i) weight.data<float>()[i] = static_cast<float>(rng() % 7) * 0.01f;
  }
  if (int8) {
    p.src_type = ElementType::kU8;
    p.dst_type = ElementType::kU8;
    p.output_scales.assign(static_cast<size_t>(p.out_channels), 0.001f);
  }
  p.activation.kind = kestrel::ActivationKind::kRelu;
  auto conv = kestrel::onednn::ConvPrimitive::create(p, weight, nullptr);
  if (!conv.ok()) return {-1, conv.status().message()};
  const size_t element = int8 ? 1 : 4;
  std::vector<uint8_t> src(static_cast<size_t>(p.batch * p.in_h * p.in_w * p.in_channels) * element + 64, 1);
  std::vector<uint8_t> dst(static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_channels) * element + 64);
  return {median_ms([&] { (*conv)->run(src.data(), dst.data()); }), (*conv)->implementation()};
}

bool is_depthwise(const ConvParams& p) { return p.groups == p.in_channels && p.out_channels == p.in_channels; }

// Kestrel's own int8 depthwise kernel on the same shape and epilogue (u8 in
// and out, per-channel scales, ReLU); ms < 0 where it does not run here.
Timing time_kestrel_depthwise(const ConvParams& p, std::mt19937& rng) {
  if (!kestrel::cpu::depthwise_int8_fast_path_available()) return {-1, "no AVX-512 VNNI/VBMI"};
  std::vector<int8_t> weight(static_cast<size_t>(p.out_channels * p.kernel_h * p.kernel_w));
  for (auto& w : weight) w = static_cast<int8_t>(rng() % 7);
  const kestrel::cpu::DepthwiseShape shape{.batch = p.batch,
                                           .channels = p.in_channels,
                                           .in_h = p.in_h,
                                           .in_w = p.in_w,
                                           .out_h = p.out_h,
                                           .out_w = p.out_w,
                                           .kernel_h = p.kernel_h,
                                           .kernel_w = p.kernel_w,
                                           .stride_h = p.stride_h,
                                           .stride_w = p.stride_w,
                                           .dilation_h = p.dilation_h,
                                           .dilation_w = p.dilation_w,
                                           .pad_top = p.pad_top,
                                           .pad_left = p.pad_left};
  kestrel::Activation relu;
  relu.kind = kestrel::ActivationKind::kRelu;
  const kestrel::cpu::DepthwiseInt8 kernel(shape, kestrel::cpu::ByteType::kU8, kestrel::cpu::ConvOutput::kU8,
                                           weight.data(), nullptr, std::vector<float>(weight.size(), 0.001f), relu,
                                           1.0f);
  std::vector<uint8_t> src(static_cast<size_t>(p.batch * p.in_h * p.in_w * p.in_channels), 1);
  std::vector<uint8_t> dst(static_cast<size_t>(p.batch * p.out_h * p.out_w * p.out_channels));
  return {median_ms([&] { kernel.run(src.data(), dst.data()); }), "kestrel depthwise_int8"};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = std::atoi(argv[++i]);
    else models.emplace_back(argv[i]);
  }
  if (models.empty() || threads < 1) {
    std::fprintf(stderr, "usage: conv_shapes [--threads T] MODEL.kestrel ...\n");
    return 2;
  }
  std::vector<Shape> shapes;
  for (const std::string& path : models) {
    auto file = kestrel::load_model_file(path);
    if (!file.ok()) {
      std::fprintf(stderr, "conv_shapes: %s\n", file.status().message().c_str());
      return 1;
    }
    const std::string name = path.substr(path.find_last_of('/') + 1);
    for (const kestrel::Node& node : file->graph.nodes) {
      ConvParams p;
      if (!conv_params(file->graph, node, &p)) continue;
      const std::string key = describe(p) + " " + std::to_string(p.out_h) + "x" + std::to_string(p.out_w);
      auto it = std::find_if(shapes.begin(), shapes.end(), [&](const Shape& s) { return s.key == key; });
      if (it == shapes.end()) it = shapes.insert(shapes.end(), Shape{p, key, {}});
      ++it->uses[name];
    }
  }
  const double fp32_peak = peak(fma_loop, 32.0, threads);    // 16 lanes x 2 flops
  const double int8_peak = peak(vnni_loop, 128.0, threads);  // 64 products x 2 ops
  kestrel::onednn::set_num_threads(threads);
  kestrel::onednn::pin_threads(threads);
  std::printf("peak on %d thread(s): FP32 %.0f GFLOP/s, INT8 %.0f GOP/s; %zu unique conv shapes\n", threads,
              fp32_peak / 1e9, int8_peak / 1e9, shapes.size());
  std::printf("%-34s %5s %9s | %9s %5s %-28s | %9s %5s %-30s | %6s  %s\n", "shape (in -> out, kernel, stride, groups)",
              "out", "MMAC", "FP32 ms", "%pk", "FP32 kernel", "INT8 ms", "%pk", "INT8 kernel", "x", "models");
  std::mt19937 rng(1);
  std::map<std::string, std::pair<double, double>> totals;
  std::map<std::string, double> kestrel_dw;  // INT8 with Kestrel's depthwise kernel where it runs
  for (const Shape& shape : shapes) {
    const ConvParams& p = shape.params;
    const Timing f = time_conv(p, false, rng), q = time_conv(p, true, rng);
    const double ops = 2.0 * static_cast<double>(macs(p));
    std::string used;
    for (const auto& [model, count] : shape.uses) {
      used += (used.empty() ? "" : ", ") + model + (count > 1 ? " x" + std::to_string(count) : "");
      totals[model].first += count * std::max(f.ms, 0.0);
      totals[model].second += count * std::max(q.ms, 0.0);
    }
    std::printf("%-34s %2ldx%-2ld %9.2f | %9.4f %5.1f %-28s | %9.4f %5.1f %-30s | %5.2fx  %s\n", describe(p).c_str(),
                static_cast<long>(p.out_h), static_cast<long>(p.out_w), static_cast<double>(macs(p)) / 1e6, f.ms,
                f.ms > 0 ? 100.0 * ops / (f.ms * 1e-3) / fp32_peak : 0.0, f.kernel.substr(0, 28).c_str(), q.ms,
                q.ms > 0 ? 100.0 * ops / (q.ms * 1e-3) / int8_peak : 0.0, q.kernel.substr(0, 30).c_str(),
                q.ms > 0 ? f.ms / q.ms : 0.0, used.c_str());
    if (is_depthwise(p)) {
      const Timing k = time_kestrel_depthwise(p, rng);
      if (k.ms > 0) {
        std::printf("%-34s %5s %9s | %9s %5s %-28s | %9.4f %5.1f %-30s | %5.2fx  vs oneDNN INT8\n", "", "", "", "", "",
                    "", k.ms, 100.0 * ops / (k.ms * 1e-3) / int8_peak, k.kernel.c_str(), q.ms > 0 ? q.ms / k.ms : 0.0);
      }
      for (const auto& [model, count] : shape.uses) kestrel_dw[model] += count * (k.ms > 0 ? k.ms : q.ms);
    } else {
      for (const auto& [model, count] : shape.uses) kestrel_dw[model] += count * std::max(q.ms, 0.0);
    }
  }
  std::printf("\nper model, every conv occurrence on its own (no fusion beyond ReLU, no graph overhead):\n");
  for (const auto& [model, sums] : totals) {
    std::printf("  %-40s FP32 %8.3f ms  INT8 %8.3f ms  %5.2fx  INT8 with Kestrel depthwise %8.3f ms\n", model.c_str(),
                sums.first, sums.second, sums.second > 0 ? sums.first / sums.second : 0.0, kestrel_dw[model]);
  }
  return 0;
}
