// log: one line per message, levels, and secrets that cannot be printed.

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "core/log.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;

namespace {

// Captures what the logger writes to fd 2 while alive.
class StderrCapture {
 public:
  explicit StderrCapture(const guestkit::test::TempDir& dir) : path_(dir.path() / "stderr") {
    saved_ = ::dup(2);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::string out;
    int fd = ::open(path_.c_str(), O_RDONLY);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
  }
  std::filesystem::path path_;
  int saved_ = -1;
};

struct LogReset {
  ~LogReset() { core::log_setup({"guestkit", core::LogSink::stderr_stream, core::Level::warning}); }
};

}  // namespace

TEST_CASE("sanitize_for_log escapes control bytes and bad UTF-8, keeps good UTF-8", "[log]") {
  CHECK(core::sanitize_for_log("plain text") == "plain text");
  CHECK(core::sanitize_for_log("a\nb\rc\td") == "a\\x0ab\\x0dc\\x09d");
  CHECK(core::sanitize_for_log("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(core::sanitize_for_log("\xff\xfe") == "\\xff\\xfe");
  CHECK(core::sanitize_for_log(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(core::sanitize_for_log("\x1b[31mred") == "\\x1b[31mred");
}

TEST_CASE("a Secret never formats its value", "[log]") {
  core::Secret s("hunter2");
  std::ostringstream os;
  os << "password=" << s;
  CHECK(os.str() == "password=<redacted>");
  CHECK(s.reveal() == "hunter2");
  core::Secret moved = std::move(s);
  CHECK(moved.reveal() == "hunter2");
  // core::log_info(moved);  -- does not compile: static_assert in core::log.
}

TEST_CASE("stderr sink: one line per message, program prefix, level filter", "[log]") {
  LogReset reset;
  guestkit::test::TempDir t;
  StderrCapture cap(t);
  core::log_setup({"guestkit-test", core::LogSink::stderr_stream, core::Level::info});
  core::log_info("mounted ", "/dev/vdb", " at ", 42);
  core::log_warning("line1\nforged: line2");
  core::log_debug("hidden");
  core::log_setup({"guestkit-test", core::LogSink::stderr_stream, core::Level::debug});
  core::log_debug("shown");
  core::log_setup({"guestkit-test", core::LogSink::none, core::Level::debug});
  core::log_error("nowhere");
  CHECK(cap.text() ==
        "guestkit-test: mounted /dev/vdb at 42\n"
        "guestkit-test: warning: line1\\x0aforged: line2\n"
        "guestkit-test: debug: shown\n");
}
