// Error policy (STYLE.md §7): functions that touch files or user input return Status / Result<T>
// carrying a human-readable message that names the file and the problem. No exceptions cross the
// public API. Invariants inside the library use TQ_CHECK (core/check.h), which aborts.
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

namespace tq {

enum class StatusCode { kOk = 0, kInvalidArgument, kNotFound, kIoError, kCorruptFile, kUnsupported, kOutOfRange, kInternal };

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>"
  std::string to_string() const;
  // Returns a copy whose message is "<context>: <message>" (adds where-information on the way up).
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }

template <typename... Args>
Status invalid_argument(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kInvalidArgument, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status not_found(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kNotFound, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status io_error(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kIoError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status corrupt_file(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kCorruptFile, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status unsupported(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kUnsupported, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status out_of_range(fmt::format_string<Args...> f, Args&&... args) {
  return Status(StatusCode::kOutOfRange, fmt::format(f, std::forward<Args>(args)...));
}

// Result<T>: a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "Result constructed from ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace tq

#define TQ_STATUS_CONCAT_INNER_(a, b) a##b
#define TQ_STATUS_CONCAT_(a, b) TQ_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` (a Status) is not ok.
#define TQ_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::tq::Status _tq_st = (expr);         \
    if (!_tq_st.ok()) return _tq_st;      \
  } while (0)

// TQ_ASSIGN_OR_RETURN(auto x, make_x()): declares/assigns lhs from a Result, or returns its status.
#define TQ_ASSIGN_OR_RETURN(lhs, expr) \
  TQ_ASSIGN_OR_RETURN_IMPL_(TQ_STATUS_CONCAT_(_tq_res_, __LINE__), lhs, expr)
#define TQ_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
