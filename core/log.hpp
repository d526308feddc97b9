#pragma once
// Logging: syslog (ident "guestkit", facility daemon) by default, stderr with
// --log-stderr. Libraries log at debug only; the caller that decides logs, once.
//
// Secrets: wrap a secret value in Secret and it can never be formatted: streaming it
// prints "<redacted>", and the log functions refuse it at compile time too, so a
// password cannot reach syslog by accident.

#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace guestkit::core {

enum class Level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };  // syslog(3)

// file: append to LogSetup::file (guestkit-agent --log-file: tests and debugging; under
// inetd the agent's stderr is the peer's socket).
enum class LogSink { syslog, stderr_stream, file, none };

struct LogSetup {
  std::string program = "guestkit";  // shown in stderr lines and as syslog tag suffix
  LogSink sink = LogSink::syslog;
  Level max_level = Level::info;     // --debug raises it to debug
  std::string file{};                // host path, for LogSink::file
};

void log_setup(const LogSetup& setup);
bool log_enabled(Level level) noexcept;
LogSink log_sink() noexcept;
// Writes one message. Control characters (newlines included) are escaped so one
// call is always one log line and input cannot forge log entries.
void log_write(Level level, std::string_view message);

// A value that must never be logged or printed: passwords, keys, password hashes.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret(Secret&&) noexcept = default;
  Secret& operator=(const Secret&) = default;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  // The only way to the value: call sites that reveal are easy to audit.
  const std::string& reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

 private:
  std::string value_;
};
// Formatting a Secret yields "<redacted>", whatever the stream.
std::ostream& operator<<(std::ostream& os, const Secret& secret);

// Escapes control characters and invalid UTF-8 bytes as \xNN.
std::string sanitize_for_log(std::string_view text);

namespace detail {
template <class T>
inline constexpr bool is_secret_v = std::is_same_v<std::remove_cvref_t<T>, Secret>;
}

template <class... Args>
void log(Level level, const Args&... args) {
  static_assert(!(detail::is_secret_v<Args> || ...),
                "a Secret must never be logged; log what was done, not the value");
  if (!log_enabled(level)) return;
  std::ostringstream os;
  (os << ... << args);
  log_write(level, os.str());
}

template <class... Args> void log_error(const Args&... a) { log(Level::error, a...); }
template <class... Args> void log_warning(const Args&... a) { log(Level::warning, a...); }
template <class... Args> void log_notice(const Args&... a) { log(Level::notice, a...); }
template <class... Args> void log_info(const Args&... a) { log(Level::info, a...); }
template <class... Args> void log_debug(const Args&... a) { log(Level::debug, a...); }

}  // namespace guestkit::core
