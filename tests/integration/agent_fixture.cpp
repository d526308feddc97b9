#include "tests/integration/agent_fixture.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace guestkit::test {
namespace {

using namespace std::chrono_literals;

// 32 bytes, as hex: a fixed test key (the tests also need a wrong one).
constexpr const char* kTestKey =
    "6b657920666f7220746865206775657374206167656e7420746573747320212121";

sockaddr_in loopback(unsigned port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(static_cast<std::uint16_t>(port));
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return in;
}

bool port_accepts(unsigned port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto in = loopback(port);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&in), sizeof in) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

unsigned free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto in = loopback(0);
  socklen_t len = sizeof in;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) != 0)
    throw std::runtime_error("no free port");
  ::close(fd);
  return ntohs(in.sin_port);
}

AgentLab::AgentLab(const AgentLabOptions& options) {
  if (!running_as_root()) skip("the agent lab needs root (xinetd, useradd --root, chown)");
  const auto xinetd = core::find_program("xinetd");
  if (!xinetd) skip("xinetd is not installed (scripts/setup installs it)");
  for (const char* tool : {"useradd", "usermod", "chpasswd"})
    if (!core::find_program(tool)) skip(std::string(tool) + " is not installed (package passwd)");

  // The guest: only what shadow-utils' --root and the agent need.
  tmp_.write("root/etc/passwd",
             "root:x:0:0:root:/root:/bin/bash\n"
             "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
             "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  tmp_.write(
      "root/etc/shadow",
      "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
      0640);
  tmp_.write("root/etc/group", "root:x:0:\ndaemon:x:1:\nadm:x:4:\nsudo:x:27:\nnogroup:x:65534:\n");
  tmp_.write("root/etc/gshadow", "root:*::\ndaemon:*::\nadm:*::\nsudo:*::\nnogroup:*::\n", 0640);
  tmp_.write("root/etc/hosts",
             "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost\n");
  tmp_.write("root/etc/hostname", "debian\n");
  tmp_.write("root/etc/guestkit/instance-id", instance_id() + "\n");
  tmp_.write("root/etc/guestkit/agent.key", std::string(kTestKey) + "\n", 0600);
  std::filesystem::create_directories(root() / "root");
  std::filesystem::create_directories(root() / "home");
  tmp_.write("ctl.key", std::string(kTestKey) + "\n", 0600);
  // The image's own xinetd entry, which a successful provision retires.
  tmp_.write("root/etc/xinetd.d/guestkit-agent",
             "service guestkit-agent\n{\n\tport\t\t= 7391\n\tdisable\t\t= no\n}\n");

  const auto conf = tmp_.write(
      "agent.yml", "agent:\n" + (options.agent_yml.empty() ? std::string("  read_timeout: 5s\n")
                                                           : options.agent_yml));
  const auto agent = built_binary("agent", "guestkit-agent");
  std::string env_line;
  for (const auto& [key, value] : options.agent_env)
    env_line += (env_line.empty() ? "\tenv = " : " ") + key + "=" + value;
  if (!env_line.empty()) env_line += "\n";
  for (int attempt = 0; attempt < 5 && xinetd_ < 0; ++attempt) {
    port_ = free_port();
    const auto xconf = tmp_.write(
        "xinetd.conf", "defaults\n{\n\tlog_type = FILE " + (tmp_.path() / "xinetd.log").string() +
                           "\n}\n"
                           "service guestkit-agent-test\n{\n"
                           "\ttype = UNLISTED\n\tport = " +
                           std::to_string(port_) +
                           "\n\tbind = 127.0.0.1\n"
                           "\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tuser = root\n"
                           "\tserver = " +
                           agent.string() +
                           "\n"
                           "\tserver_args = --root " +
                           root().string() + " --config " + conf.string() + " --log-file " +
                           (tmp_.path() / "agent.log").string() +
                           "\n"
                           "\tinstances = UNLIMITED\n\tcps = 1000 1\n\tper_source = "
                           "UNLIMITED\n\tdisable = no\n" +
                           env_line + "}\n");
    const pid_t pid = fork_child();
    if (pid == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execl(xinetd->c_str(), "xinetd", "-dontfork", "-f", xconf.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    xinetd_ = pid;
    bool up = false;
    for (int i = 0; i < 300 && !up; ++i) {
      std::this_thread::sleep_for(10ms);
      int status = 0;
      if (::waitpid(xinetd_, &status, WNOHANG) == xinetd_) {
        xinetd_ = -1;  // died (port taken meanwhile?): try another port
        break;
      }
      up = port_accepts(port_);
    }
    if (!up && xinetd_ > 0) {
      ::kill(xinetd_, SIGKILL);
      ::waitpid(xinetd_, nullptr, 0);
      xinetd_ = -1;
    }
  }
  if (xinetd_ < 0)
    throw std::runtime_error("xinetd did not start: " + read_host(tmp_.path() / "xinetd.log"));
  // The probe connections above spawned agents that saw the peer leave: let them go.
  std::this_thread::sleep_for(50ms);
}

AgentLab::~AgentLab() {
  if (xinetd_ > 0) {
    ::kill(xinetd_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(xinetd_, nullptr, WNOHANG) == xinetd_) {
        xinetd_ = -1;
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    if (xinetd_ > 0) {
      ::kill(xinetd_, SIGKILL);
      ::waitpid(xinetd_, nullptr, 0);
    }
  }
}

std::string AgentLab::root_file(const std::string& guest) const {
  return read_host(root() / guest.substr(1));
}

std::string AgentLab::agent_log() const {
  return read_host(tmp_.path() / "agent.log");
}

core::ExecResult AgentLab::ctl(const std::vector<std::string>& args, const std::string& stdin_data,
                               bool with_key) const {
  std::vector<std::string> argv{built_binary("agent", "guestkit-ctl").string()};
  bool has_connect = false;
  for (const auto& a : args) has_connect = has_connect || a == "--connect";
  if (!has_connect) argv.insert(argv.end(), {"--connect", connect_spec()});
  if (with_key) argv.insert(argv.end(), {"--key", key_file()});
  argv.insert(argv.end(), args.begin(), args.end());
  core::ExecOptions options;
  options.stdin_data = stdin_data;
  options.timeout = 60s;
  auto res = core::run(argv, options);
  if (!res) throw std::runtime_error(res.error().message());
  return *res;
}

RecordingProxy::RecordingProxy(unsigned target_port) : target_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto in = loopback(0);
  socklen_t len = sizeof in;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&in), sizeof in) != 0 ||
      ::listen(listener_, 8) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&in), &len) != 0)
    throw std::runtime_error("proxy: cannot listen");
  port_ = ntohs(in.sin_port);
  thread_ = std::thread([this] { serve(); });
}

RecordingProxy::~RecordingProxy() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

std::string RecordingProxy::captured() const {
  std::lock_guard lock(mutex_);
  return captured_;
}

// One connection at a time is all the tests need.
void RecordingProxy::serve() {
  while (!stop_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto in = loopback(target_);
    if (::connect(upstream, reinterpret_cast<const sockaddr*>(&in), sizeof in) != 0) {
      ::close(client);
      ::close(upstream);
      continue;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    bool open = true;
    while (open && !stop_) {
      if (::poll(fds, 2, 20) <= 0) continue;
      for (int i = 0; i < 2 && open; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[65536];
        const ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
        if (n <= 0) {
          open = false;
          break;
        }
        {
          std::lock_guard lock(mutex_);
          captured_.append(buf, static_cast<std::size_t>(n));
        }
        ::send(fds[1 - i].fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
      }
    }
    ::close(client);
    ::close(upstream);
  }
}

ArgvWatcher::ArgvWatcher() {
  thread_ = std::thread([this] {
    while (!stop_) {
      if (DIR* proc = ::opendir("/proc")) {
        while (const dirent* e = ::readdir(proc)) {
          if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
          std::string cmdline = read_host(std::string("/proc/") + e->d_name + "/cmdline");
          for (char& c : cmdline)
            if (c == '\0') c = ' ';
          if (cmdline.empty()) continue;
          std::lock_guard lock(mutex_);
          seen_.insert(cmdline);
        }
        ::closedir(proc);
      }
      std::this_thread::sleep_for(1ms);
    }
  });
}

ArgvWatcher::~ArgvWatcher() {
  if (thread_.joinable()) stop();
}

std::vector<std::string> ArgvWatcher::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  return {seen_.begin(), seen_.end()};
}

std::string read_host(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

UnixListener::UnixListener(const AgentLab& lab, const std::vector<std::string>& args)
    : path_(lab.tmp().path() / "agent.sock") {
  std::filesystem::remove(path_);
  std::vector<std::string> argv{"guestkit-agent", "--root", lab.root().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--log-file", (lab.tmp().path() / "listen.log").string(), "--listen",
                           "unix:" + path_.string()});
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const auto agent = built_binary("agent", "guestkit-agent");
  pid_ = fork_child();
  if (pid_ == 0) {
    ::execv(agent.c_str(), cargv.data());
    ::_exit(127);
  }
  if (pid_ < 0) throw std::runtime_error("fork failed");
  for (int i = 0; i < 300 && !std::filesystem::exists(path_); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ready_ = std::filesystem::exists(path_);
}

UnixListener::~UnixListener() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);  // the agent this object started, by its pid
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace guestkit::test
