#pragma once
// Result<T>: a value or an Error. Expected failures travel as values (DESIGN.md,
// "Style"); exceptions are for startup and config only, caught in main.

#include <cerrno>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace guestkit::core {

// guestkit's own error conditions, for failures errno has no good word for.
enum class Errc {
  escapes_root = 1,  // a path or symlink would leave the Root
  symlink_refused,   // a symlink where the caller asked for none
  bad_input,         // input failed validation (name, label, message...)
  timed_out,         // a deadline passed
  config,            // configuration is invalid
  unsafe,            // ownership/permissions make a file untrustworthy
  failed,            // a step failed; the context says which and why
};
const std::error_category& guestkit_category() noexcept;
inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), guestkit_category()};
}

struct Error {
  std::error_code code;
  std::string context;  // what was being done: "open /etc/motd"

  // "open /etc/motd: Permission denied"; never contains secrets because callers
  // only put paths and names into context.
  std::string message() const;
};

inline Error make_error(std::error_code code, std::string context) {
  return Error{code, std::move(context)};
}
inline Error make_error(Errc code, std::string context) {
  return Error{make_error_code(code), std::move(context)};
}
// From errno as left by the failed call.
inline Error errno_error(std::string context, int err = errno) {
  return Error{std::error_code(err, std::system_category()), std::move(context)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return !err_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { return *err_; }
  Error&& error() && { return std::move(*err_); }

 private:
  std::optional<Error> err_;
};

using Status = Result<void>;

}  // namespace guestkit::core

template <>
struct std::is_error_code_enum<guestkit::core::Errc> : std::true_type {};
