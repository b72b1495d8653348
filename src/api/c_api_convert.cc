// C API: conversion options and kestrel_convert, a thin layer over
// convert_model (src/convert/converter.h), plus the trampoline that turns a C
// calibration callback into the library's CalibrationSource.
#include <sched.h>

#include "api/c_api_internal.h"
#include "convert/converter.h"
#include "quant/calibration_methods.h"

struct kestrel_convert_options {
  kestrel::ConvertOptions options;
};

namespace kestrel::c_api {
namespace {

// The library's calibration sessions pin their OpenMP workers, which pins
// the thread that creates them; kestrel_convert promises to leave the
// caller's affinity as it found it (threads the caller starts later inherit it).
class AffinityRestorer {
 public:
  AffinityRestorer() { saved_ = sched_getaffinity(0, sizeof(mask_), &mask_) == 0; }
  ~AffinityRestorer() {
    if (saved_) sched_setaffinity(0, sizeof(mask_), &mask_);
  }
  AffinityRestorer(const AffinityRestorer&) = delete;
  AffinityRestorer& operator=(const AffinityRestorer&) = delete;

 private:
  cpu_set_t mask_{};
  bool saved_ = false;
};

CalibrationSource make_source(kestrel_calibration_callback_t callback, void* user) {
  return [callback, user](Tensor& batch) -> StatusOr<int64_t> {
    const Shape& dims = batch.shape();
    const int64_t rows = callback(user, batch.data<float>(), dims.data(), dims.size());
    if (rows < 0) return invalid_argument("the calibration callback failed (it returned ", rows, ")");
    return rows;
  };
}

// Setters share one shape: check the handle, then store or parse.
template <typename Store>
kestrel_status_t set(kestrel_convert_options_t* options, const char* function, Store&& store) {
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(require(options, function, "options"));
    return store(options->options);
  });
}

template <typename Store>
kestrel_status_t set_string(kestrel_convert_options_t* options, const char* text, const char* function, Store&& store) {
  return set(options, function, [&](ConvertOptions& target) -> Status {
    KESTREL_RETURN_IF_ERROR(require(text, function, "the string argument"));
    return store(target, std::string(text));
  });
}

}  // namespace
}  // namespace kestrel::c_api

using kestrel::ConvertOptions;
using kestrel::Status;
using kestrel::c_api::guarded;
using kestrel::c_api::require;
using kestrel::c_api::set;
using kestrel::c_api::set_string;

extern "C" {

kestrel_status_t kestrel_convert_options_create(kestrel_convert_options_t** out) {
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(require(out, "kestrel_convert_options_create", "out"));
    auto options = std::make_unique<kestrel_convert_options>();
    // The API returns no report, so it skips the per-layer error measurement
    // whose only product is that report.
    options->options.error_report = false;
    *out = options.release();
    return {};
  });
}

void kestrel_convert_options_destroy(kestrel_convert_options_t* options) { delete options; }

kestrel_status_t kestrel_convert_options_set_model(kestrel_convert_options_t* options, const char* path) {
  return set_string(options, path, "kestrel_convert_options_set_model", [](ConvertOptions& o, std::string value) {
    o.model = std::move(value);
    return Status();
  });
}

kestrel_status_t kestrel_convert_options_set_output(kestrel_convert_options_t* options, const char* path) {
  return set_string(options, path, "kestrel_convert_options_set_output", [](ConvertOptions& o, std::string value) {
    o.output = std::move(value);
    return Status();
  });
}

kestrel_status_t kestrel_convert_options_set_input_shape(kestrel_convert_options_t* options, const char* spec) {
  return set_string(options, spec, "kestrel_convert_options_set_input_shape",
                    [](ConvertOptions& o, const std::string& value) -> Status {
                      auto shapes = kestrel::parse_input_shapes(value);
                      if (!shapes.ok()) return shapes.status().with_context("kestrel_convert_options_set_input_shape");
                      o.input_shapes = std::move(shapes).value();
                      return {};
                    });
}

kestrel_status_t kestrel_convert_options_set_precision(kestrel_convert_options_t* options, const char* precision) {
  return set_string(options, precision, "kestrel_convert_options_set_precision",
                    [](ConvertOptions& o, const std::string& value) -> Status {
                      auto parsed = kestrel::parse_precision(value);
                      if (!parsed.ok()) return parsed.status().with_context("kestrel_convert_options_set_precision");
                      o.precision = *parsed;
                      return {};
                    });
}

kestrel_status_t kestrel_convert_options_set_calibration_data(kestrel_convert_options_t* options, const char* path) {
  return set_string(options, path, "kestrel_convert_options_set_calibration_data",
                    [](ConvertOptions& o, std::string value) {
                      o.calibration_data = std::move(value);
                      return Status();
                    });
}

kestrel_status_t kestrel_convert_options_set_preprocess(kestrel_convert_options_t* options, const char* path) {
  return set_string(options, path, "kestrel_convert_options_set_preprocess", [](ConvertOptions& o, std::string value) {
    o.preprocess = std::move(value);
    return Status();
  });
}

kestrel_status_t kestrel_convert_options_set_max_batch(kestrel_convert_options_t* options, int64_t max_batch) {
  return set(options, "kestrel_convert_options_set_max_batch", [&](ConvertOptions& o) -> Status {
    if (max_batch < 0 || max_batch > 4096) {
      return kestrel::invalid_argument("kestrel_convert_options_set_max_batch: ", max_batch,
                                       " is outside 0 (a fixed batch) to 4096");
    }
    o.max_batch = max_batch;
    return {};
  });
}

kestrel_status_t kestrel_convert_options_set_calibration_count(kestrel_convert_options_t* options, int64_t count) {
  return set(options, "kestrel_convert_options_set_calibration_count", [&](ConvertOptions& o) -> Status {
    if (count < 0) return kestrel::invalid_argument("kestrel_convert_options_set_calibration_count: ", count, " < 0");
    o.calibration_count = count;
    return {};
  });
}

kestrel_status_t kestrel_convert_options_set_calibration_batch(kestrel_convert_options_t* options, int64_t batch) {
  return set(options, "kestrel_convert_options_set_calibration_batch", [&](ConvertOptions& o) -> Status {
    if (batch <= 0) return kestrel::invalid_argument("kestrel_convert_options_set_calibration_batch: ", batch, " <= 0");
    o.calibration_batch = batch;
    return {};
  });
}

kestrel_status_t kestrel_convert_options_set_calibration_method(kestrel_convert_options_t* options,
                                                                const char* method) {
  return set_string(options, method, "kestrel_convert_options_set_calibration_method",
                    [](ConvertOptions& o, std::string value) -> Status {
                      const auto parsed = kestrel::parse_calibration_method(value);
                      if (!parsed.ok()) {
                        return parsed.status().with_context("kestrel_convert_options_set_calibration_method");
                      }
                      o.calibration_method = std::move(value);
                      return {};
                    });
}

kestrel_status_t kestrel_convert_options_set_percentile(kestrel_convert_options_t* options, double percentile) {
  return set(options, "kestrel_convert_options_set_percentile", [&](ConvertOptions& o) -> Status {
    if (!(percentile >= 0 && percentile <= 100)) {
      return kestrel::invalid_argument("kestrel_convert_options_set_percentile: ", percentile,
                                       " is not in (0, 100] (or 0 for the default)");
    }
    o.percentile = percentile;
    return {};
  });
}

kestrel_status_t kestrel_convert_options_set_quant_config(kestrel_convert_options_t* options, const char* path) {
  return set_string(options, path, "kestrel_convert_options_set_quant_config",
                    [](ConvertOptions& o, std::string value) {
                      o.quant_config = std::move(value);
                      return Status();
                    });
}

kestrel_status_t kestrel_convert_options_set_threads(kestrel_convert_options_t* options, int threads) {
  return set(options, "kestrel_convert_options_set_threads", [&](ConvertOptions& o) -> Status {
    if (threads < 0 || threads > kestrel::kMaxSessionThreads) {
      return kestrel::invalid_argument("kestrel_convert_options_set_threads: threads must be 0 (all cores) to ",
                                       kestrel::kMaxSessionThreads, ", got ", threads);
    }
    o.threads = threads;
    return {};
  });
}

kestrel_status_t kestrel_convert_options_set_calibration_callback(kestrel_convert_options_t* options,
                                                                  kestrel_calibration_callback_t callback, void* user,
                                                                  const int64_t* dims, size_t rank) {
  constexpr const char* kFunction = "kestrel_convert_options_set_calibration_callback";
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(require(options, kFunction, "options"));
    if (callback == nullptr) {
      options->options.calibration_source = nullptr;
      options->options.calibration_batch_shape.clear();
      return {};
    }
    if (rank == 0) return kestrel::invalid_argument(kFunction, ": the batch needs dims (rank is 0)");
    KESTREL_RETURN_IF_ERROR(require(dims, kFunction, "dims"));
    kestrel::Shape shape(dims, dims + rank);
    for (int64_t dim : shape) {
      if (dim <= 0)
        return kestrel::invalid_argument(kFunction, ": batch dims ", kestrel::shape_string(shape),
                                         " must all be positive");
    }
    options->options.calibration_batch_shape = std::move(shape);
    options->options.calibration_source = kestrel::c_api::make_source(callback, user);
    return {};
  });
}

kestrel_status_t kestrel_convert(const kestrel_convert_options_t* options) {
  return guarded([&]() -> Status {
    KESTREL_RETURN_IF_ERROR(require(options, "kestrel_convert", "options"));
    if (options->options.model.empty()) return kestrel::invalid_argument("kestrel_convert: no model path is set");
    if (options->options.output.empty()) return kestrel::invalid_argument("kestrel_convert: no output path is set");
    // Either would be silently ignored for the other: refuse the pair.
    if (!options->options.calibration_data.empty() && options->options.calibration_source) {
      return kestrel::invalid_argument("kestrel_convert: both calibration data ('", options->options.calibration_data,
                                       "') and a calibration callback (caller batches) are set; give one");
    }
    const kestrel::c_api::AffinityRestorer restore_affinity;
    return kestrel::convert_model(options->options).status();
  });
}

}  // extern "C"
