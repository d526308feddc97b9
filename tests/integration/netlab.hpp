#pragma once
// A network lab for integration tests, made of the real kernel's parts: network
// namespaces held by a process each, veth pairs between them, daemons (dnsmasq) in
// them. Nothing touches the host's own interfaces, routes or /run:
//
// * a Namespace is a child process that unshare()d a network namespace and, with
//   `isolated`, a mount and UTS namespace too, where it mounted a tmpfs over /run, a
//   fresh sysfs over /sys (so /sys/class/net shows the namespace's links) and a
//   test-owned file over /etc/resolv.conf (DHCP client scripts write it). Commands
//   run inside through nsenter(1); the isolated /run is read at /proc/PID/root/run.
// * cleanup is RAII, also when a test fails: a Daemon is killed by the pid we
//   started and reaped; a Namespace kills, by pid, every process still living in its
//   network namespace (a DHCP client guestkit started), then its holder. The holder
//   has PR_SET_PDEATHSIG, so even a crashed test run takes the namespaces down.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/exec.hpp"

namespace guestkit::test {

class Namespace {
 public:
  // Skips the test (exit 77) when namespaces cannot be made here (not root, no
  // CAP_SYS_ADMIN in a container...).
  Namespace(bool isolated, const std::filesystem::path& resolv_conf = {});
  ~Namespace();
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  pid_t pid() const { return pid_; }
  std::string netns_path() const { return "/proc/" + std::to_string(pid_) + "/ns/net"; }
  // nsenter -t PID -n [-m -u] -- argv...
  std::vector<std::string> enter(const std::vector<std::string>& argv) const;
  core::ExecResult run(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& env = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Runs and requires success (the command line and its stderr on failure).
  std::string must(const std::vector<std::string>& argv) const;
  // Host path of a path inside an isolated namespace's mounts.
  std::filesystem::path inside(const std::string& guest) const;
  // Pids of the processes in this network namespace, the holder excepted.
  std::vector<pid_t> processes() const;

 private:
  pid_t pid_ = -1;
  bool isolated_ = false;
};

// A program run in the background (fork + exec) until destroyed: SIGTERM, then
// SIGKILL, and reaped. Dies with the test process too (PR_SET_PDEATHSIG).
class Daemon {
 public:
  explicit Daemon(const std::vector<std::string>& argv);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  pid_t pid() const { return pid_; }
  bool running() const;

 private:
  mutable pid_t pid_ = -1;  // -1 once reaped
};

// Polls `done` every 20 ms until it holds or `timeout` passes; returns its last value.
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The program's full path, or skips the test naming the package to install.
std::string need_program(const std::string& name, const std::string& package);

}  // namespace guestkit::test

#include <thread>

template <class F>
bool guestkit::test::eventually(F done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}
