#include "core/result.hpp"

namespace guestkit::core {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "guestkit"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::escapes_root:
        return "path escapes the root";
      case Errc::symlink_refused:
        return "refusing to follow a symbolic link";
      case Errc::bad_input:
        return "invalid input";
      case Errc::timed_out:
        return "timed out";
      case Errc::config:
        return "invalid configuration";
      case Errc::unsafe:
        return "unsafe ownership or permissions";
      case Errc::failed:
        return "failed";
    }
    return "unknown guestkit error";
  }
};

}  // namespace

const std::error_category& guestkit_category() noexcept {
  static const Category category;
  return category;
}

std::string Error::message() const {
  if (!code) return context;
  if (context.empty()) return code.message();
  // For these the context is the whole story ("unknown key 'x'"); a trailing
  // ": invalid input" would only be noise.
  if (code == Errc::bad_input || code == Errc::config || code == Errc::failed) return context;
  return context + ": " + code.message();
}

}  // namespace guestkit::core
