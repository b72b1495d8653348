// The C API's error channel and element types. The functions over models,
// sessions and conversion live in c_api_model.cc, c_api_session.cc and
// c_api_convert.cc.
#include <array>
#include <string>

#include "api/c_api_internal.h"
#include "ir/dtype.h"

#ifndef KESTREL_VERSION
#error "the build defines KESTREL_VERSION (the project version)"
#endif

namespace kestrel::c_api {
namespace {

// The C codes are the library's codes, so a Status converts by value.
static_assert(KESTREL_OK == static_cast<int>(StatusCode::kOk));
static_assert(KESTREL_INVALID_ARGUMENT == static_cast<int>(StatusCode::kInvalidArgument));
static_assert(KESTREL_NOT_FOUND == static_cast<int>(StatusCode::kNotFound));
static_assert(KESTREL_UNIMPLEMENTED == static_cast<int>(StatusCode::kUnimplemented));
static_assert(KESTREL_DATA_LOSS == static_cast<int>(StatusCode::kDataLoss));
static_assert(KESTREL_INTERNAL == static_cast<int>(StatusCode::kInternal));

// The C dtypes are the IR's (both are ONNX's numbers).
static_assert(KESTREL_DTYPE_FLOAT32 == static_cast<int>(DType::kFloat32));
static_assert(KESTREL_DTYPE_UINT8 == static_cast<int>(DType::kUInt8));
static_assert(KESTREL_DTYPE_INT8 == static_cast<int>(DType::kInt8));
static_assert(KESTREL_DTYPE_UINT16 == static_cast<int>(DType::kUInt16));
static_assert(KESTREL_DTYPE_INT16 == static_cast<int>(DType::kInt16));
static_assert(KESTREL_DTYPE_INT32 == static_cast<int>(DType::kInt32));
static_assert(KESTREL_DTYPE_INT64 == static_cast<int>(DType::kInt64));
static_assert(KESTREL_DTYPE_BOOL == static_cast<int>(DType::kBool));
static_assert(KESTREL_DTYPE_FLOAT16 == static_cast<int>(DType::kFloat16));
static_assert(KESTREL_DTYPE_FLOAT64 == static_cast<int>(DType::kFloat64));
static_assert(KESTREL_DTYPE_UINT32 == static_cast<int>(DType::kUInt32));
static_assert(KESTREL_DTYPE_UINT64 == static_cast<int>(DType::kUInt64));

// One past the largest DType value.
constexpr size_t kDTypeCount = static_cast<size_t>(DType::kUInt64) + 1;

thread_local std::string last_error;

// Only the types a tensor can hold; the IR's kString is not one.
DType known_dtype(kestrel_dtype_t dtype) {
  const DType converted = dtype_from_int(static_cast<int32_t>(dtype));
  return dtype_is_supported(converted) ? converted : DType::kUndefined;
}

}  // namespace

kestrel_status_t report(const Status& status) noexcept {
  if (status.ok()) return KESTREL_OK;
  try {
    last_error = status.message();
  } catch (...) {
    return report_out_of_memory();
  }
  return static_cast<kestrel_status_t>(status.code());
}

kestrel_status_t report_out_of_memory() noexcept {
  // Short enough for the string's inline buffer (or its current capacity):
  // assigning it allocates nothing.
  constexpr const char* kMessage = "out of memory";
  try {
    last_error.assign(kMessage);
  } catch (...) {
    last_error.clear();
  }
  return KESTREL_OUT_OF_MEMORY;
}

kestrel_status_t report_exception(const char* what) noexcept {
  try {
    report(internal_error("unexpected exception: ", what));
    return KESTREL_INTERNAL;
  } catch (...) {
    return report_out_of_memory();
  }
}

}  // namespace kestrel::c_api

extern "C" {

const char* kestrel_status_string(kestrel_status_t status) {
  switch (status) {
    case KESTREL_OK: return "OK";
    case KESTREL_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case KESTREL_NOT_FOUND: return "NOT_FOUND";
    case KESTREL_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case KESTREL_DATA_LOSS: return "DATA_LOSS";
    case KESTREL_INTERNAL: return "INTERNAL";
    case KESTREL_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
  }
  return "UNKNOWN";
}

const char* kestrel_last_error(void) { return kestrel::c_api::last_error.c_str(); }

const char* kestrel_version(void) { return KESTREL_VERSION; }

const char* kestrel_dtype_name(kestrel_dtype_t dtype) {
  // The IR's names, in storage that is never freed, so that the pointers
  // stay valid for the life of the process.
  try {
    static const auto* const names = [] {
      auto* table = new std::array<std::string, kestrel::c_api::kDTypeCount>();
      for (size_t i = 0; i < table->size(); ++i) (*table)[i] = kestrel::dtype_name(static_cast<kestrel::DType>(i));
      return table;
    }();
    return (*names)[static_cast<size_t>(kestrel::c_api::known_dtype(dtype))].c_str();
  } catch (...) {
    return "undefined";  // the table could not be allocated; the next call tries again
  }
}

size_t kestrel_dtype_size(kestrel_dtype_t dtype) { return kestrel::dtype_size(kestrel::c_api::known_dtype(dtype)); }

}  // extern "C"
