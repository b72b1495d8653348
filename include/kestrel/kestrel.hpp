// Kestrel C++ API: a header-only RAII layer over the C API (kestrel.h). It
// adds no behaviour of its own: handles become move-only objects, failed
// statuses become kestrel::api::Error exceptions, buffers become std::span.
// Ownership and thread safety are the C API's (see kestrel.h): share one
// Model among threads; give each thread its own Session.
//
// The namespace is kestrel::api, not kestrel: the library's internals use
// kestrel:: (kestrel::Session, kestrel::Tensor, ...), and code that sees both
// (the tests, a program linking the static libraries) must not get two
// different classes of one name.
//
// Usage — compiled and run by the test suite exactly as written here
// (tests/api/CMakeLists.txt extracts it):
//
// @code
// #include <cstdio>
// #include <vector>
//
// #include <kestrel/kestrel.hpp>
//
// // Runs a model with one float32 input and one float32 output on an
// // all-zero input and prints the output.
// int main(int argc, char** argv) {
//   if (argc != 2) {
//     std::fprintf(stderr, "usage: %s MODEL.kestrel\n", argv[0]);
//     return 2;
//   }
//   try {
//     const kestrel::api::Model model = kestrel::api::Model::load(argv[1]);
//     const kestrel::api::TensorInfo in = model.input(0);
//     const kestrel::api::TensorInfo out = model.output(0);
//     kestrel::api::Session session(model);
//
//     std::vector<float> input(in.bytes / sizeof(float));
//     std::vector<float> output(out.bytes / sizeof(float));
//     const kestrel::api::Tensor inputs[] = {{in.name.c_str(), in.shape, input}};
//     kestrel::api::Tensor outputs[] = {{out.name.c_str(), out.shape, output}};
//     session.run(inputs, outputs);
//
//     std::printf("%s:", out.name.c_str());
//     for (float value : output) std::printf(" %g", value);
//     std::printf("\n");
//   } catch (const kestrel::api::Error& error) {
//     std::fprintf(stderr, "error (%s): %s\n", error.status_name(), error.what());
//     return 1;
//   }
//   return 0;
// }
// @endcode
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kestrel/kestrel.h"

namespace kestrel::api {

// A failed C API call: its status code and the library's message.
class Error : public std::runtime_error {
 public:
  Error(kestrel_status_t status, const std::string& message) : std::runtime_error(message), status_(status) {}
  kestrel_status_t status() const noexcept { return status_; }
  // "INVALID_ARGUMENT", ...
  const char* status_name() const noexcept { return kestrel_status_string(status_); }

 private:
  kestrel_status_t status_;
};

// Throws the calling thread's last error when `status` is not KESTREL_OK.
inline void check(kestrel_status_t status) {
  if (status != KESTREL_OK) throw Error(status, kestrel_last_error());
}

enum class DType : int {
  kUndefined = KESTREL_DTYPE_UNDEFINED,
  kFloat32 = KESTREL_DTYPE_FLOAT32,
  kUInt8 = KESTREL_DTYPE_UINT8,
  kInt8 = KESTREL_DTYPE_INT8,
  kUInt16 = KESTREL_DTYPE_UINT16,
  kInt16 = KESTREL_DTYPE_INT16,
  kInt32 = KESTREL_DTYPE_INT32,
  kInt64 = KESTREL_DTYPE_INT64,
  kBool = KESTREL_DTYPE_BOOL,
  kFloat16 = KESTREL_DTYPE_FLOAT16,
  kFloat64 = KESTREL_DTYPE_FLOAT64,
  kUInt32 = KESTREL_DTYPE_UINT32,
  kUInt64 = KESTREL_DTYPE_UINT64,
};

inline const char* dtype_name(DType dtype) { return kestrel_dtype_name(static_cast<kestrel_dtype_t>(dtype)); }
inline size_t dtype_size(DType dtype) { return kestrel_dtype_size(static_cast<kestrel_dtype_t>(dtype)); }

// The DType of a C++ element type (float -> kFloat32, ...).
template <typename T>
constexpr DType dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, float>) return DType::kFloat32;
  else if constexpr (std::is_same_v<U, double>) return DType::kFloat64;
  else if constexpr (std::is_same_v<U, uint8_t>) return DType::kUInt8;
  else if constexpr (std::is_same_v<U, int8_t>) return DType::kInt8;
  else if constexpr (std::is_same_v<U, uint16_t>) return DType::kUInt16;
  else if constexpr (std::is_same_v<U, int16_t>) return DType::kInt16;
  else if constexpr (std::is_same_v<U, int32_t>) return DType::kInt32;
  else if constexpr (std::is_same_v<U, int64_t>) return DType::kInt64;
  else if constexpr (std::is_same_v<U, uint32_t>) return DType::kUInt32;
  else if constexpr (std::is_same_v<U, uint64_t>) return DType::kUInt64;
  else if constexpr (std::is_same_v<U, bool>) return DType::kBool;
  else static_assert(sizeof(U) == 0, "no Kestrel dtype for this element type");
}

// real = scales[i] * (q - zero_points[i]); one entry per tensor, or one per
// slice along `axis`.
struct QuantInfo {
  std::vector<float> scales;
  std::vector<int64_t> zero_points;
  int64_t axis = 0;
};

// A model input or output as compiled (at Model::max_batch() for a variable-batch model).
struct TensorInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> shape;
  size_t bytes = 0;                // product(shape) * dtype_size(dtype)
  std::optional<QuantInfo> quant;  // empty: not quantized
};

struct SessionOptions {
  int threads = 0;              // 0: the OpenMP default (all cores)
  bool pin_threads = false;     // see kestrel_session_options_set_pin_threads
  int64_t max_arena_bytes = 0;  // 0: the default limit; see kestrel_session_options_set_max_arena_bytes
};

namespace detail {

struct ModelDeleter {
  void operator()(kestrel_model_t* model) const noexcept { kestrel_model_destroy(model); }
};
struct SessionDeleter {
  void operator()(kestrel_session_t* session) const noexcept { kestrel_session_destroy(session); }
};
struct SessionOptionsDeleter {
  void operator()(kestrel_session_options_t* options) const noexcept { kestrel_session_options_destroy(options); }
};
struct ConvertOptionsDeleter {
  void operator()(kestrel_convert_options_t* options) const noexcept { kestrel_convert_options_destroy(options); }
};

inline TensorInfo to_info(const kestrel_tensor_info_t& info, const kestrel_quant_info_t& quant) {
  TensorInfo result{info.name, static_cast<DType>(info.dtype), std::vector<int64_t>(info.dims, info.dims + info.rank),
                    info.bytes, std::nullopt};
  if (quant.quantized) {
    result.quant = QuantInfo{std::vector<float>(quant.scales, quant.scales + quant.count),
                             std::vector<int64_t>(quant.zero_points, quant.zero_points + quant.count), quant.axis};
  }
  return result;
}

}  // namespace detail

// A loaded .kestrel model (kestrel_model_t). Move-only; const methods may be
// called from any number of threads at once.
class Model {
 public:
  // Memory-maps the file; sessions share the weights in place.
  static Model load(const std::string& path) {
    kestrel_model_t* model = nullptr;
    check(kestrel_model_load(path.c_str(), &model));
    return Model(model);
  }
  // Copies the bytes; the caller may free them once this returns.
  static Model load_buffer(std::span<const std::byte> bytes) {
    kestrel_model_t* model = nullptr;
    check(kestrel_model_load_buffer(bytes.data(), bytes.size(), &model));
    return Model(model);
  }

  size_t input_count() const {
    size_t count = 0;
    check(kestrel_model_input_count(get(), &count));
    return count;
  }
  size_t output_count() const {
    size_t count = 0;
    check(kestrel_model_output_count(get(), &count));
    return count;
  }
  TensorInfo input(size_t index) const {
    kestrel_tensor_info_t info;
    kestrel_quant_info_t quant;
    check(kestrel_model_input_info(get(), index, &info));
    check(kestrel_model_input_quant(get(), index, &quant));
    return detail::to_info(info, quant);
  }
  TensorInfo output(size_t index) const {
    kestrel_tensor_info_t info;
    kestrel_quant_info_t quant;
    check(kestrel_model_output_info(get(), index, &info));
    check(kestrel_model_output_quant(get(), index, &quant));
    return detail::to_info(info, quant);
  }
  std::vector<TensorInfo> inputs() const {
    std::vector<TensorInfo> result;
    for (size_t i = 0, n = input_count(); i < n; ++i) result.push_back(input(i));
    return result;
  }
  std::vector<TensorInfo> outputs() const {
    std::vector<TensorInfo> result;
    for (size_t i = 0, n = output_count(); i < n; ++i) result.push_back(output(i));
    return result;
  }
  // Index of the input / output called `name`; throws KESTREL_NOT_FOUND.
  size_t find_input(const std::string& name) const {
    size_t index = 0;
    check(kestrel_model_find_input(get(), name.c_str(), &index));
    return index;
  }
  size_t find_output(const std::string& name) const {
    size_t index = 0;
    check(kestrel_model_find_output(get(), name.c_str(), &index));
    return index;
  }

  // N for a model converted with --max-batch N, which runs any batch 1..N
  // (dim 0 of the tensors given to Session::run); 0 for a fixed-shape model.
  int64_t max_batch() const {
    int64_t batch = 0;
    check(kestrel_model_max_batch(get(), &batch));
    return batch;
  }

  // The value of a metadata key ("precision", "isa", ...); empty when absent.
  std::optional<std::string> metadata(const std::string& key) const {
    const char* value = nullptr;
    const kestrel_status_t status = kestrel_model_metadata(get(), key.c_str(), &value);
    if (status == KESTREL_NOT_FOUND) return std::nullopt;
    check(status);
    return std::string(value);
  }
  std::vector<std::pair<std::string, std::string>> metadata() const {
    size_t count = 0;
    check(kestrel_model_metadata_count(get(), &count));
    std::vector<std::pair<std::string, std::string>> entries;
    for (size_t i = 0; i < count; ++i) {
      const char* key = nullptr;
      const char* value = nullptr;
      check(kestrel_model_metadata_entry(get(), i, &key, &value));
      entries.emplace_back(key, value);
    }
    return entries;
  }

  // The C handle (owned by this object); null after a move.
  const kestrel_model_t* get() const noexcept { return handle_.get(); }

 private:
  explicit Model(kestrel_model_t* model) : handle_(model) {}
  std::unique_ptr<kestrel_model_t, detail::ModelDeleter> handle_;
};

// A caller-owned tensor for Session::run: a view that owns nothing. The
// name, shape and data must outlive the run() call that uses it.
class Tensor {
 public:
  Tensor() = default;
  // `name` nullptr: the model's input/output at this tensor's position.
  // The dtype follows the element type of `data` (a std::vector, array,
  // std::span, ... of float, uint8_t, ...); const data is fine for inputs.
  template <std::ranges::contiguous_range Range>
  requires std::ranges::sized_range<Range> && std::ranges::borrowed_range<Range> Tensor(const char* name,
                                                                                        std::span<const int64_t> shape,
                                                                                        Range&& data) {
    using Element = std::remove_reference_t<std::ranges::range_reference_t<Range>>;
    // The C struct has one non-const pointer for inputs and outputs alike;
    // the library only reads inputs.
    void* bytes = const_cast<void*>(static_cast<const void*>(std::ranges::data(data)));
    tensor_ = {name,  static_cast<kestrel_dtype_t>(dtype_of<Element>()), shape.data(), shape.size(),
               bytes, std::ranges::size(data) * sizeof(Element)};
  }
  // A temporary shape would dangle before run() reads it: keep it in a variable.
  template <typename Range>
  Tensor(const char* name, std::vector<int64_t>&& shape, Range&& data) = delete;
  // Untyped bytes with an explicit dtype.
  Tensor(const char* name, DType dtype, std::span<const int64_t> shape, std::span<std::byte> data)
      : tensor_{name, static_cast<kestrel_dtype_t>(dtype), shape.data(), shape.size(), data.data(), data.size()} {}

  const kestrel_tensor_t& c_tensor() const noexcept { return tensor_; }

 private:
  // The only member: a Tensor array is passed to C as a kestrel_tensor_t array.
  kestrel_tensor_t tensor_{};
};
static_assert(std::is_standard_layout_v<Tensor> && sizeof(Tensor) == sizeof(kestrel_tensor_t));

// One execution context (kestrel_session_t): use from one thread at a time.
class Session {
 public:
  explicit Session(const Model& model, const SessionOptions& options = {}) {
    kestrel_session_options_t* raw_options = nullptr;
    check(kestrel_session_options_create(&raw_options));
    const std::unique_ptr<kestrel_session_options_t, detail::SessionOptionsDeleter> owned(raw_options);
    check(kestrel_session_options_set_threads(raw_options, options.threads));
    check(kestrel_session_options_set_pin_threads(raw_options, options.pin_threads ? 1 : 0));
    check(kestrel_session_options_set_max_arena_bytes(raw_options, options.max_arena_bytes));
    kestrel_session_t* session = nullptr;
    check(kestrel_session_create(model.get(), raw_options, &session));
    handle_.reset(session);
  }

  // Runs on caller-owned buffers: one memcpy per input in and per requested
  // output out (none for a tensor whose data is the session's own buffer).
  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs) {
    // Tensor is layout-identical to kestrel_tensor_t (static_assert above).
    check(kestrel_session_run(get(), reinterpret_cast<const kestrel_tensor_t*>(inputs.data()), inputs.size(),
                              reinterpret_cast<kestrel_tensor_t*>(outputs.data()), outputs.size()));
  }
  // Runs on the session-owned buffers (input_buffer / output_buffer): no copies.
  void run() { check(kestrel_session_run_simple(get())); }
  // The zero-copy path at batch b of a variable-batch model: the leading b
  // items of the session-owned buffers.
  void run_batch(int64_t batch) { check(kestrel_session_run_batch(get(), batch)); }

  // Session-owned buffers; valid while the session lives. Outputs hold the
  // last run's results until the next run.
  std::span<std::byte> input_buffer(size_t index) {
    void* data = nullptr;
    size_t bytes = 0;
    check(kestrel_session_input_buffer(get(), index, &data, &bytes));
    return {static_cast<std::byte*>(data), bytes};
  }
  std::span<const std::byte> output_buffer(size_t index) const {
    const void* data = nullptr;
    size_t bytes = 0;
    check(kestrel_session_output_buffer(get(), index, &data, &bytes));
    return {static_cast<const std::byte*>(data), bytes};
  }
  // The same buffers as elements of T (the caller knows the dtype from
  // Model::input / Model::output).
  template <typename T>
  std::span<T> input_buffer_as(size_t index) {
    const std::span<std::byte> bytes = input_buffer(index);
    return {reinterpret_cast<T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
  template <typename T>
  std::span<const T> output_buffer_as(size_t index) const {
    const std::span<const std::byte> bytes = output_buffer(index);
    return {reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T)};
  }

  // The C handle (owned by this object); null after a move.
  kestrel_session_t* get() noexcept { return handle_.get(); }
  const kestrel_session_t* get() const noexcept { return handle_.get(); }

 private:
  std::unique_ptr<kestrel_session_t, detail::SessionDeleter> handle_;
};

// The options of kestrel_convert (and `kestrel convert`); empty strings and
// zeros mean the defaults.
struct ConvertOptions {
  std::string model;        // source .onnx (required)
  std::string output;       // .kestrel to write (required)
  std::string input_shape;  // "input:1,3,224,224"
  std::string precision;    // "fp32" (default) or "int8"
  std::string calibration_data, preprocess, calibration_method, quant_config;
  int64_t max_batch = 0;  // > 0: runs every batch 1..max_batch (kestrel_convert_options_set_max_batch)
  int64_t calibration_count = 0;
  int64_t calibration_batch = 0;
  double percentile = 0;
  int threads = 0;
  // Caller-provided calibration batches (instead of calibration_data): fill
  // `batch` (float32 of shape `dims` = calibration_batch_shape) and return
  // the rows filled, 0 when done. An exception thrown here fails the
  // conversion and is rethrown by convert().
  std::function<int64_t(std::span<float> batch, std::span<const int64_t> dims)> calibration_source;
  std::vector<int64_t> calibration_batch_shape;
};

namespace detail {

struct CalibrationContext {
  const ConvertOptions* options;
  std::exception_ptr error;
};

inline int64_t calibration_trampoline(void* user, float* batch, const int64_t* dims, size_t rank) noexcept {
  auto* context = static_cast<CalibrationContext*>(user);
  try {
    size_t elements = 1;
    for (size_t i = 0; i < rank; ++i) elements *= static_cast<size_t>(dims[i]);
    return context->options->calibration_source(std::span<float>(batch, elements),
                                                std::span<const int64_t>(dims, rank));
  } catch (...) {
    context->error = std::current_exception();
    return -1;
  }
}

inline void set_if(kestrel_convert_options_t* options, const std::string& value,
                   kestrel_status_t (*setter)(kestrel_convert_options_t*, const char*)) {
  if (!value.empty()) check(setter(options, value.c_str()));
}

}  // namespace detail

// Decodes and preprocesses one image into `dst` (kestrel_preprocess_image);
// returns its dims ([C, H, W] or [H, W, C]).
inline std::array<int64_t, 3> preprocess_image(const std::string& preprocess_path, const std::string& image_path,
                                               std::span<float> dst) {
  std::array<int64_t, 3> dims{};
  check(
      kestrel_preprocess_image(preprocess_path.c_str(), image_path.c_str(), dst.data(), dst.size_bytes(), dims.data()));
  return dims;
}

// Converts an ONNX model into a .kestrel model (kestrel_convert).
inline void convert(const ConvertOptions& options) {
  kestrel_convert_options_t* raw = nullptr;
  check(kestrel_convert_options_create(&raw));
  const std::unique_ptr<kestrel_convert_options_t, detail::ConvertOptionsDeleter> owned(raw);
  check(kestrel_convert_options_set_model(raw, options.model.c_str()));
  check(kestrel_convert_options_set_output(raw, options.output.c_str()));
  detail::set_if(raw, options.input_shape, kestrel_convert_options_set_input_shape);
  detail::set_if(raw, options.precision, kestrel_convert_options_set_precision);
  detail::set_if(raw, options.calibration_data, kestrel_convert_options_set_calibration_data);
  detail::set_if(raw, options.preprocess, kestrel_convert_options_set_preprocess);
  detail::set_if(raw, options.calibration_method, kestrel_convert_options_set_calibration_method);
  detail::set_if(raw, options.quant_config, kestrel_convert_options_set_quant_config);
  check(kestrel_convert_options_set_max_batch(raw, options.max_batch));
  check(kestrel_convert_options_set_calibration_count(raw, options.calibration_count));
  if (options.calibration_batch != 0)
    check(kestrel_convert_options_set_calibration_batch(raw, options.calibration_batch));
  check(kestrel_convert_options_set_percentile(raw, options.percentile));
  check(kestrel_convert_options_set_threads(raw, options.threads));
  detail::CalibrationContext context{&options, nullptr};
  if (options.calibration_source) {
    check(kestrel_convert_options_set_calibration_callback(raw, detail::calibration_trampoline, &context,
                                                           options.calibration_batch_shape.data(),
                                                           options.calibration_batch_shape.size()));
  }
  const kestrel_status_t status = kestrel_convert(raw);
  if (context.error) std::rethrow_exception(context.error);
  check(status);
}

}  // namespace kestrel::api
