#include "core/log.hpp"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "core/encoding.hpp"

namespace guestkit::core {
namespace {

std::mutex g_mutex;
// Until a binary calls log_setup (tests never do): warnings and errors on stderr.
LogSetup g_setup{"guestkit", LogSink::stderr_stream, Level::warning};
std::string g_ident;  // openlog keeps the pointer: must outlive every syslog() call
int g_file_fd = -1;   // LogSink::file

const char* level_word(Level level) {
  switch (level) {
    case Level::error:
      return "error";
    case Level::warning:
      return "warning";
    case Level::notice:
      return "notice";
    case Level::info:
      return "info";
    case Level::debug:
      return "debug";
  }
  return "log";
}


}  // namespace

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    ::explicit_bzero(value_.data(), value_.size());
    value_ = std::move(other.value_);
    ::explicit_bzero(other.value_.data(), other.value_.size());
  }
  return *this;
}

Secret::~Secret() { ::explicit_bzero(value_.data(), value_.size()); }

std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "<redacted>"; }

std::string sanitize_for_log(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = utf8_sequence_length(text, i);
    if (n > 1 || (n == 1 && c >= 0x20 && c != 0x7f)) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
    ++i;
  }
  return out;
}

void log_setup(const LogSetup& setup) {
  std::lock_guard lock(g_mutex);
  g_setup = setup;
  if (g_file_fd >= 0) ::close(g_file_fd);
  g_file_fd = -1;
  if (setup.sink == LogSink::file) {
    // Created 0600: a log names users and peers. A file that cannot be opened means
    // no log, never a log on stderr (which may be a socket).
    g_file_fd = ::open(setup.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  }
  if (setup.sink == LogSink::syslog) {
    g_ident = "guestkit";
    // No LOG_PERROR: under inetd fd 2 is the client's socket.
    ::openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
    ::setlogmask(LOG_UPTO(static_cast<int>(setup.max_level)));
  }
}

bool log_enabled(Level level) noexcept {
  return g_setup.sink != LogSink::none &&
         static_cast<int>(level) <= static_cast<int>(g_setup.max_level);
}

LogSink log_sink() noexcept { return g_setup.sink; }

void log_write(Level level, std::string_view message) {
  if (!log_enabled(level)) return;
  std::string line = sanitize_for_log(message);
  std::lock_guard lock(g_mutex);
  if (g_setup.sink == LogSink::syslog) {
    // The program name goes into the message: ident stays "guestkit" for filtering.
    ::syslog(static_cast<int>(level), "%s: %s", g_setup.program.c_str(), line.c_str());
    return;
  }
  std::string out = g_setup.program + ": ";
  if (level != Level::info && level != Level::notice) out += std::string(level_word(level)) + ": ";
  out += line;
  out += '\n';
  // One write(2) per line keeps lines whole when several helpers share stderr.
  const int fd = g_setup.sink == LogSink::file ? g_file_fd : STDERR_FILENO;
  if (fd < 0) return;
  const char* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace guestkit::core
