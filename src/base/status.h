// Status / StatusOr: the library's error channel. Exceptions are used only at
// the C++ and Python API edges; everything inside returns a Status whose
// message names the file, node or tensor at fault and the reason.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace kestrel {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad user input: shapes, flags, tensors
  kNotFound,         // a file, tensor or node that does not exist
  kUnimplemented,    // valid input that Kestrel does not support (yet)
  kDataLoss,         // malformed or truncated files
  kInternal,         // a bug in Kestrel
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prepends context ("while importing x.onnx: ...") to an error.
  Status with_context(const std::string& context) const {
    if (ok()) return *this;
    return {code_, context + ": " + message_};
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
Status invalid_argument(const Args&... args) {
  return {StatusCode::kInvalidArgument, str_cat(args...)};
}
template <typename... Args>
Status not_found(const Args&... args) {
  return {StatusCode::kNotFound, str_cat(args...)};
}
template <typename... Args>
Status unimplemented(const Args&... args) {
  return {StatusCode::kUnimplemented, str_cat(args...)};
}
template <typename... Args>
Status data_loss(const Args&... args) {
  return {StatusCode::kDataLoss, str_cat(args...)};
}
template <typename... Args>
Status internal_error(const Args&... args) {
  return {StatusCode::kInternal, str_cat(args...)};
}

// Reading the value of an error is a bug in the caller, not bad input: it
// stops the program with the error's message instead of undefined behaviour.
[[noreturn]] void die_on_statusor_error(const Status& status);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  // An OK status without a value would leave nothing to read: it is an error.
  StatusOr(Status status)  // NOLINT: implicit by design
      : status_(status.ok() ? Status(StatusCode::kInternal, "StatusOr built from an OK status without a value")
                            : std::move(status)) {}
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return checked(); }
  const T& value() const& { return checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &checked(); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return checked(); }

 private:
  T& checked() {
    if (!value_) die_on_statusor_error(status_);
    return *value_;
  }
  const T& checked() const {
    if (!value_) die_on_statusor_error(status_);
    return *value_;
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace kestrel

#define KESTREL_CONCAT_INNER(a, b) a##b
#define KESTREL_CONCAT(a, b) KESTREL_CONCAT_INNER(a, b)

#define KESTREL_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::kestrel::Status kestrel_status_ = (expr);        \
    if (!kestrel_status_.ok()) return kestrel_status_; \
  } while (0)

// `tmp` is a fresh name and `lhs` may be a declaration (`auto x`): neither
// can be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define KESTREL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

#define KESTREL_ASSIGN_OR_RETURN(lhs, expr) \
  KESTREL_ASSIGN_OR_RETURN_IMPL(KESTREL_CONCAT(kestrel_statusor_, __LINE__), lhs, expr)
