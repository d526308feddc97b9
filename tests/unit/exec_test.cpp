#include "core/exec.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "core/fd.hpp"
#include "tests/support.hpp"

using namespace guestkit::core;
using guestkit::test::TempDir;
using namespace std::chrono_literals;

namespace {

ExecResult must_run(const std::vector<std::string>& argv, const ExecOptions& options = {}) {
  auto r = run(argv, options);
  if (!r) FAIL("run " << argv[0] << ": " << r.error().message());
  return std::move(r).value();
}

std::set<std::string> lines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.insert(line);
  return out;
}

// Gone, or a zombie waiting for whoever adopted it: either way no longer running.
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!process_gone(pid)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool sigpipe_blocked() {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return sigismember(&mask, SIGPIPE) == 1;
}

bool sigpipe_pending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

}  // namespace

TEST_CASE("exit codes are reported", "[exec]") {
  auto ok = must_run({"true"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.signal == 0);
  CHECK_FALSE(ok.timed_out);
  CHECK(ok.success());
  for (int code : {3, 255}) {
    auto r = must_run({"sh", "-c", "exit " + std::to_string(code)});
    CHECK(r.exit_code == code);
    CHECK(r.signal == 0);
    CHECK_FALSE(r.success());
    CHECK(r.describe() == "exited with status " + std::to_string(code));
  }
}

TEST_CASE("death by signal is reported", "[exec]") {
  auto r = must_run({"/bin/sh", "-c", "kill -9 $$"});
  CHECK(r.signal == SIGKILL);
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.success());
  CHECK(r.describe() == "killed by signal 9 (Killed)");
}

TEST_CASE("describe() wording", "[exec]") {
  ExecResult r;
  r.exit_code = 3;
  CHECK(r.describe() == "exited with status 3");
  r.signal = SIGTERM;
  CHECK(r.describe() == "killed by signal 15 (Terminated)");
  r.timed_out = true;
  r.duration = 2s;
  CHECK(r.describe() == "timed out after 2.0 s");
  r.duration = 1250ms;
  CHECK(r.describe() == "timed out after 1.2 s");
}

TEST_CASE("a timeout kills the child within timeout + grace", "[exec]") {
  ExecOptions options;
  options.timeout = 300ms;
  options.kill_grace = 500ms;
  auto r = must_run({"sleep", "30"}, options);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGTERM);
  CHECK_FALSE(r.success());
  CHECK(r.duration >= 300ms);
  CHECK(r.duration < 15s);  // the child sleeps 30 s: killed, whatever load adds
  CHECK(r.describe().rfind("timed out after ", 0) == 0);
}

TEST_CASE("a timeout kills the whole process group", "[exec]") {
  TempDir tmp;
  auto pid_file = (tmp.path() / "pid").string();
  ExecOptions options;
  options.timeout = 300ms;
  options.kill_grace = 500ms;

  SECTION("grandchild that obeys SIGTERM") {
    auto r = must_run({"/bin/sh", "-c", "sleep 30 & echo $! > \"$1\"; wait", "sh", pid_file},
                      options);
    CHECK(r.timed_out);
    CHECK(r.duration < 15s);  // not the grandchild's 30 s
  }
  SECTION("grandchild that ignores SIGTERM gets SIGKILL after the grace") {
    auto r = must_run(
        {"/bin/sh", "-c", "trap '' TERM; sleep 30 & echo $! > \"$1\"; wait", "sh", pid_file},
        options);
    CHECK(r.timed_out);
    CHECK(r.signal == SIGKILL);
    CHECK(r.duration >= 800ms);
    CHECK(r.duration < 15s);
  }
  pid_t grandchild = std::stoi(tmp.read("pid"));
  REQUIRE(grandchild > 1);
  bool gone = wait_gone(grandchild, 2s);
  if (!gone) ::kill(grandchild, SIGKILL);  // our own test's process: don't leave it around
  CHECK(gone);
}

TEST_CASE("a daemonising grandchild holding the pipes does not block run", "[exec]") {
  // The direct child exits at once; the background sleep keeps stdout/stderr open.
  auto r = must_run({"/bin/sh", "-c", "sleep 30 & echo $!"});
  pid_t grandchild = std::stoi(r.out);
  ::kill(grandchild, SIGKILL);  // ours, started just above
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.timed_out);
  CHECK(r.duration < 15s);  // not the grandchild's 30 s
}

TEST_CASE("arguments are never interpreted by a shell", "[exec]") {
  auto r = must_run({"echo", "$(id)", ";", "*", "`id`", "a b"});
  CHECK(r.out == "$(id) ; * `id` a b\n");
  CHECK(r.err.empty());
}

TEST_CASE("stdout and stderr are captured separately", "[exec]") {
  auto r = must_run({"/bin/sh", "-c", "echo out; echo err >&2"});
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");

  ExecOptions quiet;
  quiet.capture_stdout = false;
  quiet.capture_stderr = false;
  auto q = must_run({"/bin/sh", "-c", "echo out; echo err >&2; exit 4"}, quiet);
  CHECK(q.out.empty());
  CHECK(q.err.empty());
  CHECK(q.exit_code == 4);
}

TEST_CASE("large stdin through cat does not deadlock", "[exec]") {
  std::string payload;
  payload.reserve(4u << 20);
  for (std::size_t i = 0; payload.size() < (4u << 20); ++i)
    payload += "line " + std::to_string(i) + "\n";
  payload.resize(4u << 20);
  ExecOptions options;
  options.stdin_data = payload;
  options.max_output = 8u << 20;
  options.timeout = 20s;
  auto r = must_run({"cat"}, options);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.output_truncated);
  CHECK(r.out.size() == payload.size());
  CHECK(r.out == payload);
}

TEST_CASE("output beyond max_output is dropped and flagged", "[exec]") {
  ExecOptions options;
  options.max_output = 1000;
  auto r = must_run({"head", "-c", "300000", "/dev/zero"}, options);
  CHECK(r.exit_code == 0);  // drained to the end, so head was not killed by SIGPIPE
  CHECK(r.out.size() == 1000);
  CHECK(r.out == std::string(1000, '\0'));
  CHECK(r.output_truncated);

  auto small = must_run({"echo", "hi"}, options);
  CHECK(small.out == "hi\n");
  CHECK_FALSE(small.output_truncated);
}

TEST_CASE("the child environment is clean", "[exec]") {
  REQUIRE(::setenv("GUESTKIT_TEST_LEAK", "1", 1) == 0);
  ExecOptions options;
  options.env = {{"FOO", "bar baz"}};
  auto r = must_run({"env"}, options);
  ::unsetenv("GUESTKIT_TEST_LEAK");
  CHECK(lines(r.out) ==
        std::set<std::string>{"FOO=bar baz", "LC_ALL=C", std::string("PATH=") + kSafePath});

  options.env = {{"LC_ALL", "C.UTF-8"}};
  auto o = must_run({"env"}, options);
  CHECK(lines(o.out) == std::set<std::string>{"LC_ALL=C.UTF-8", std::string("PATH=") + kSafePath});
}

TEST_CASE("bad input is refused before anything runs", "[exec]") {
  for (const std::string& key : {std::string("A=B"), std::string("A\0B", 3), std::string()}) {
    ExecOptions options;
    options.env[key] = "x";
    auto r = run({"true"}, options);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::bad_input);
  }
  auto empty = run({});
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == Errc::bad_input);
  auto nul = run({"echo", std::string("a\0b", 3)});
  REQUIRE_FALSE(nul);
  CHECK(nul.error().code == Errc::bad_input);
}

TEST_CASE("a missing program is an ENOENT error naming it", "[exec]") {
  auto r = run({"guestkit-no-such-program"});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == std::errc::no_such_file_or_directory);
  CHECK(r.error().message().find("guestkit-no-such-program") != std::string::npos);

  TempDir tmp;
  auto missing = (tmp.path() / "missing").string();
  auto p = run({missing});
  REQUIRE_FALSE(p);
  CHECK(p.error().code == std::errc::no_such_file_or_directory);
  CHECK(p.error().message().find(missing) != std::string::npos);
}

TEST_CASE("a non-executable file is an EACCES error", "[exec]") {
  TempDir tmp;
  auto script = tmp.write("script", "#!/bin/sh\nexit 0\n", 0644);
  auto r = run({script.string()});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == std::errc::permission_denied);
  CHECK(r.error().message().find(script.string()) != std::string::npos);
}

TEST_CASE("only fds 0-2 reach the child", "[exec]") {
  // A descriptor without O_CLOEXEC, like the inetd socket the agent inherits.
  UniqueFd leak(::fcntl(UniqueFd(::open("/dev/null", O_RDONLY)).get(), F_DUPFD, 40));
  REQUIRE(leak.get() >= 40);
  REQUIRE((::fcntl(leak.get(), F_GETFD) & FD_CLOEXEC) == 0);

  // ls itself: 0-2 plus the directory it is reading.
  auto self = must_run({"ls", "/proc/self/fd"});
  CHECK(self.out == "0\n1\n2\n3\n");

  // The shell's own table (3 only appears if the shell exec()s ls in place).
  auto shell = must_run({"/bin/sh", "-c", "ls /proc/$$/fd"});
  auto fds = lines(shell.out);
  fds.erase("3");
  CHECK(fds == std::set<std::string>{"0", "1", "2"});
}

TEST_CASE("cwd defaults to / and can be set", "[exec]") {
  CHECK(must_run({"pwd"}).out == "/\n");
  TempDir tmp;
  ExecOptions options;
  options.cwd = tmp.path().string();
  CHECK(must_run({"pwd"}, options).out == tmp.path().string() + "\n");

  options.cwd = (tmp.path() / "nope").string();
  auto r = run({"pwd"}, options);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == std::errc::no_such_file_or_directory);
}

TEST_CASE("a child that ignores its stdin does not raise SIGPIPE here", "[exec]") {
  // Whatever the test runner inherited (often SIG_IGN), run with the default action:
  // if exec lets a SIGPIPE through, this test binary dies, which is the failure.
  struct sigaction dfl {}, old {};
  dfl.sa_handler = SIG_DFL;
  REQUIRE(::sigaction(SIGPIPE, &dfl, &old) == 0);
  struct Restore {
    struct sigaction* old;
    ~Restore() { ::sigaction(SIGPIPE, old, nullptr); }
  } restore{&old};
  REQUIRE_FALSE(sigpipe_blocked());
  ExecOptions options;
  options.stdin_data = std::string(1u << 20, 'x');
  // Several runs: whether our write lands before or after the reader is gone is a race.
  for (int i = 0; i < 10; ++i) {
    auto r = must_run({"true"}, options);
    CHECK(r.exit_code == 0);
    auto h = must_run({"head", "-c", "1"}, options);
    CHECK(h.exit_code == 0);
    CHECK(h.out == "x");
  }
  CHECK_FALSE(sigpipe_blocked());  // mask restored
  CHECK_FALSE(sigpipe_pending());  // and nothing left to fire later
}

TEST_CASE("find_program searches the safe PATH under a prefix", "[exec]") {
  TempDir tmp;
  tmp.write("usr/bin/tool", "#!/bin/sh\n", 0755);
  tmp.write("usr/sbin/plain", "data\n", 0644);
  std::filesystem::create_directories(tmp.path() / "sbin");
  std::filesystem::create_symlink("/usr/bin/tool", tmp.path() / "sbin/linked");

  CHECK(find_program("tool", tmp.path().string()) == (tmp.path() / "usr/bin/tool").string());
  // Absolute link target resolved inside the prefix, not on the host.
  CHECK(find_program("linked", tmp.path().string()) == (tmp.path() / "usr/bin/tool").string());
  CHECK(find_program("plain", tmp.path().string()) == std::nullopt);
  CHECK(find_program("missing", tmp.path().string()) == std::nullopt);
  CHECK(find_program("usr/bin/tool", tmp.path().string()) == std::nullopt);
  CHECK(find_program("", tmp.path().string()) == std::nullopt);
  auto sh = find_program("sh");
  REQUIRE(sh);
  CHECK(::access(sh->c_str(), X_OK) == 0);
}

TEST_CASE("run leaves no descriptor behind, on success or failure", "[exec]") {
  auto count_fds = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  const auto before = count_fds();
  ExecOptions options;
  options.stdin_data = "data";
  options.timeout = 100ms;
  options.kill_grace = 100ms;
  CHECK(must_run({"cat"}, options).out == "data");
  CHECK(must_run({"sleep", "5"}, options).timed_out);
  CHECK_FALSE(run({"guestkit-no-such-program"}, options));
  options.cwd = "/nonexistent-guestkit-dir";
  CHECK_FALSE(run({"true"}, options));
  CHECK(count_fds() == before);
}

TEST_CASE("empty stdin reads as end of file", "[exec]") {
  auto r = must_run({"cat"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
}
