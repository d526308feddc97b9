// Signals by pid file (core/process): a pid file names a pid, not a process. A stale
// one naming an unrelated process must leave it alone and say so; the expected
// program gets the signal. Real processes (copies of sleep and sh under the names a
// daemon has), pid files on a temp root.

#include "core/process.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/state.hpp"
#include "core/exec.hpp"
#include "plugins/iface/dhcp_client.hpp"
#include "plugins/iface/iface.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
namespace ga = guestkit::agent;
namespace iface = guestkit::plugins::iface;
using guestkit::test::TempDir;
using namespace std::chrono_literals;

extern char** environ;

namespace {

// A child of the test, killed and reaped whatever the test's outcome.
class Spawned {
 public:
  Spawned(const std::filesystem::path& program, std::vector<std::string> argv) {
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    REQUIRE(::posix_spawn(&pid_, program.c_str(), nullptr, nullptr, c.data(), environ) == 0);
    // Until it has exec'ed, /proc/PID shows the test binary, and in the middle of
    // exec an empty command line: wait for the program's own argv[0].
    const std::string want(argv[0]);
    for (int i = 0; i < 400; ++i) {
      std::ifstream in("/proc/" + std::to_string(pid_) + "/cmdline");
      std::string first;
      std::getline(in, first, '\0');
      if (first == want) break;
      std::this_thread::sleep_for(5ms);
    }
  }
  ~Spawned() {
    if (status_) return;
    ::kill(pid_, SIGKILL);  // ours, started above
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  // Running after `wait`: not exited, not killed.
  bool alive(std::chrono::milliseconds wait = 200ms) {
    std::this_thread::sleep_for(wait);
    int status = 0;
    pid_t rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) status_ = status;
    return rc == 0;
  }
  // The signal that ended it, waiting up to 5 s; 0 if it did not die of one.
  int killed_by() {
    for (int i = 0; i < 500 && !status_; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_)
        status_ = status;
      else
        std::this_thread::sleep_for(10ms);
    }
    return status_ && WIFSIGNALED(*status_) ? WTERMSIG(*status_) : 0;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// A copy of a system program under another name: its exe and comm are that name.
std::filesystem::path program_as(const TempDir& t, const std::string& program,
                                 const std::string& as) {
  auto found = gc::find_program(program);
  REQUIRE(found);
  auto to = t.path() / "bin" / as;
  std::filesystem::create_directories(to.parent_path());
  std::filesystem::copy_file(*found, to);
  std::filesystem::permissions(to, std::filesystem::perms(0755));
  return to;
}

}  // namespace

TEST_CASE("signal by pid file: a stale pid file naming another process signals nothing",
          "[process][agent]") {
  TempDir t;
  Spawned sleeper(*gc::find_program("sleep"), {"sleep", "30"});
  t.write("run/xinetd.pid", std::to_string(sleeper.pid()) + "\n");
  auto r = ga::reload_daemon(t.root(), "/run/xinetd.pid", "xinetd");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == gc::Errc::unsafe);
  CHECK_THAT(r.error().message(),
             Catch::Contains("names process " + std::to_string(sleeper.pid())) &&
                 Catch::Contains("(sleep), not xinetd"));
  CHECK(sleeper.alive());
}

TEST_CASE("signal by pid file: the expected program gets the signal", "[process][agent]") {
  TempDir t;
  Spawned xinetd(program_as(t, "sleep", "xinetd"), {"xinetd", "30"});
  t.write("run/xinetd.pid", std::to_string(xinetd.pid()) + "\n");
  auto r = ga::reload_daemon(t.root(), "/run/xinetd.pid", "xinetd");
  REQUIRE(r);
  CHECK(*r == xinetd.pid());
  CHECK(xinetd.killed_by() == SIGHUP);
}

TEST_CASE("signal by pid file: gone, missing, junk and init are errors", "[process]") {
  TempDir t;
  const auto root = t.root();
  const std::vector<std::string> want{"xinetd"};
  auto missing = gc::signal_pid_file(root, "/run/xinetd.pid", want, SIGHUP);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == std::errc::no_such_file_or_directory);

  pid_t gone = 0;
  {
    Spawned s(*gc::find_program("true"), {"true"});
    gone = s.pid();
    CHECK(s.killed_by() == 0);  // exited and reaped: the pid names nothing now
  }
  t.write("run/xinetd.pid", std::to_string(gone) + "\n");
  auto stale = gc::signal_pid_file(root, "/run/xinetd.pid", want, SIGHUP);
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == std::errc::no_such_process);
  CHECK_THAT(stale.error().message(), Catch::Contains("stale pid file"));

  for (const char* junk : {"", "\n", "1\n", "0", "-5", "12x", "abc", "99999999999999999999"}) {
    INFO(junk);
    t.write("run/xinetd.pid", junk);
    auto r = gc::signal_pid_file(root, "/run/xinetd.pid", want, SIGHUP);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == gc::Errc::bad_input);
  }
}

TEST_CASE("dhcp client stop: a pid file naming another process stops nothing",
          "[process][dhcp-client]") {
  TempDir t;
  const auto root = t.root();
  Spawned sleeper(*gc::find_program("sleep"), {"sleep", "30"});
  t.write("run/guestkit/iface/gkx0.pid", std::to_string(sleeper.pid()) + "\n");
  auto ours = iface::open_our_client(root, "gkx0");
  REQUIRE(ours);
  CHECK_FALSE(*ours);
  CHECK(sleeper.alive());

  // A udhcpc (a shell under that name) working on gkx0 is ours, and is stopped.
  Spawned client(program_as(t, "sh", "udhcpc"),
                 {"udhcpc", "-c", "while :; do sleep 0.05; done", "udhcpc", "-i", "gkx0"});
  t.write("run/guestkit/iface/gkx0.pid", std::to_string(client.pid()) + "\n");
  ours = iface::open_our_client(root, "gkx0");
  REQUIRE(ours);
  REQUIRE(*ours);
  CHECK((*ours)->pid() == client.pid());
  CHECK(iface::open_our_client(root, "gkx1")->has_value() == false);  // not on gkx1
  REQUIRE(iface::stop_process(**ours, 2s));
  CHECK(client.killed_by() == SIGTERM);
}

TEST_CASE("termination deferred: a SIGTERM inside the window takes effect when it closes",
          "[process]") {
  // In a child of the test: the guard must let the child finish its step (write "done"
  // after the signal came), then die of that very signal when the guard goes.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    {
      gc::TerminationDeferred hold;
      ::kill(::getpid(), SIGTERM);
      (void)!::write(fds[1], "done", 4);
    }
    (void)!::write(fds[1], "-after", 6);  // must never be reached
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[32];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(got == "done");
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
}
