#pragma once
// A lab for guestkit-agent with real parts: a temp root with minimal
// /etc/{passwd,shadow,group,gshadow} (what shadow-utils' --root needs), a key, an
// instance id, and xinetd in the foreground on 127.0.0.1 (a free port) spawning the
// built agent with --root, --config and --log-file. A recording TCP proxy in front of
// it captures every byte both ways; a /proc watcher records the argv of every
// process while an order runs. xinetd is killed by the pid we started, the temp tree
// removed, also when a test fails.

#include <sys/types.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/exec.hpp"
#include "tests/support.hpp"

namespace guestkit::test {

struct AgentLabOptions {
  std::string agent_yml;  // the agent: section, appended to the test config
  // Extra environment of every agent xinetd spawns (xinetd's `env`; no spaces in
  // values): the kill shim's LD_PRELOAD.
  std::map<std::string, std::string> agent_env{};
};

class AgentLab {
 public:
  explicit AgentLab(const AgentLabOptions& options = {});
  ~AgentLab();
  AgentLab(const AgentLab&) = delete;
  AgentLab& operator=(const AgentLab&) = delete;

  const TempDir& tmp() const { return tmp_; }
  std::filesystem::path root() const { return tmp_.path() / "root"; }
  std::string root_file(const std::string& guest) const;  // content, "" when missing
  unsigned port() const { return port_; }
  pid_t xinetd_pid() const { return xinetd_; }  // the real xinetd the lab started
  std::string connect_spec() const { return "tcp:127.0.0.1:" + std::to_string(port_); }
  std::string key_file() const { return (tmp_.path() / "ctl.key").string(); }
  std::string instance_id() const { return "vm-test-0001"; }
  std::string agent_log() const;

  // guestkit-ctl with these arguments (after --connect and --key, unless given).
  core::ExecResult ctl(const std::vector<std::string>& args, const std::string& stdin_data = {},
                       bool with_key = true) const;

 private:
  TempDir tmp_;
  pid_t xinetd_ = -1;
  unsigned port_ = 0;
};

// guestkit-agent --listen unix:TMP/agent.sock on the lab's root, logging to
// TMP/listen.log, with `args` (--config ...) before --listen; SIGTERMed and reaped
// when it goes, whatever the test did.
class UnixListener {
 public:
  explicit UnixListener(const AgentLab& lab, const std::vector<std::string>& args = {});
  ~UnixListener();
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  bool ready() const { return ready_; }  // its socket appeared within 3 s
  std::string connect_spec() const { return "unix:" + path_.string(); }

 private:
  std::filesystem::path path_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

// A TCP proxy on 127.0.0.1 (free port) to `target_port` that records both directions.
class RecordingProxy {
 public:
  explicit RecordingProxy(unsigned target_port);
  ~RecordingProxy();
  unsigned port() const { return port_; }
  std::string captured() const;  // everything, both directions, in arrival order

 private:
  void serve();
  int listener_ = -1;
  unsigned port_ = 0;
  unsigned target_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::string captured_;
  std::thread thread_;
};

// Records the command line of every process seen in /proc while it lives (polled
// every millisecond): a password in any child's argv would show up here.
class ArgvWatcher {
 public:
  ArgvWatcher();
  ~ArgvWatcher();
  std::vector<std::string> stop();  // the distinct command lines seen (args joined by ' ')

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::set<std::string> seen_;
  std::thread thread_;
};

// A port on 127.0.0.1 that was free a moment ago.
unsigned free_port();

// A host file's whole content ("" when it cannot be read): logs, /proc files.
std::string read_host(const std::filesystem::path& path);

}  // namespace guestkit::test
