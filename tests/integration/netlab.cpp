#include "tests/integration/netlab.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "tests/support.hpp"

namespace guestkit::test {
namespace {

// In the forked child, before exec or pause: only async-signal-safe calls.
[[noreturn]] void child_fail(int pipe_fd, int step) {
  int err = errno;
  int msg[2] = {step, err};
  (void)!::write(pipe_fd, msg, sizeof msg);
  ::_exit(127);
}

void loopback_up() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    ::ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  ::close(fd);
}

void kill_and_reap(pid_t pid, int first = SIGTERM) {
  if (pid <= 0) return;
  ::kill(pid, first);
  for (int i = 0; i < 100; ++i) {  // up to 1 s for a clean exit
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    ::usleep(10000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

struct stat ns_stat(pid_t pid) {
  struct stat st {};
  ::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st);
  return st;
}

}  // namespace

Namespace::Namespace(bool isolated, const std::filesystem::path& resolv_conf)
    : isolated_(isolated) {
  if (!running_as_root()) GUESTKIT_SKIP("network namespaces need root");
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) < 0) throw std::runtime_error("pipe2");
  const std::string resolv = resolv_conf.string();
  pid_ = fork_child();  // dies with the test process
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    ::close(ready[0]);
    int flags = CLONE_NEWNET | (isolated ? CLONE_NEWNS | CLONE_NEWUTS : 0);
    if (::unshare(flags) < 0) child_fail(ready[1], 1);
    if (isolated) {
      // Private propagation first: nothing mounted here may show on the host.
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) child_fail(ready[1], 2);
      if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") < 0)
        child_fail(ready[1], 3);
      if (::umount2("/sys", MNT_DETACH) < 0) child_fail(ready[1], 4);
      if (::mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
        child_fail(ready[1], 5);
      if (!resolv.empty() &&
          ::mount(resolv.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) < 0)
        child_fail(ready[1], 6);
    }
    loopback_up();
    ::close(ready[1]);  // EOF: ready
    for (;;) ::pause();
  }
  ::close(ready[1]);
  int msg[2] = {0, 0};
  ssize_t n = ::read(ready[0], msg, sizeof msg);
  ::close(ready[0]);
  if (n > 0) {
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    GUESTKIT_SKIP(std::string("cannot set up a namespace here (step ") + std::to_string(msg[0]) +
                  "): " + std::strerror(msg[1]));
  }
  // Never act on the host's own network: the holder must really be elsewhere.
  const struct stat host = ns_stat(::getpid()), ours = ns_stat(pid_);
  if (host.st_ino == ours.st_ino && host.st_dev == ours.st_dev) {
    kill_and_reap(pid_, SIGKILL);
    pid_ = -1;
    throw std::runtime_error("the namespace holder shares the host's network namespace");
  }
}

Namespace::~Namespace() {
  if (pid_ <= 0) return;
  // Whatever still lives in our namespace was started by this test (a DHCP client
  // that guestkit left running): each is killed by its pid.
  for (int round = 0; round < 3; ++round) {
    auto pids = processes();
    if (pids.empty()) break;
    for (pid_t p : pids) ::kill(p, SIGKILL);
    ::usleep(50000);
  }
  // SIGKILL: the holder is a fork of this test program, with its signal handlers.
  kill_and_reap(pid_, SIGKILL);
}

std::vector<pid_t> Namespace::processes() const {
  std::vector<pid_t> out;
  const struct stat mine = ns_stat(pid_);
  // error_code overloads: this runs in a destructor, and processes come and go.
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t p = static_cast<pid_t>(std::stol(name));
    if (p == pid_ || p == ::getpid()) continue;
    struct stat st {};
    if (::stat((it->path() / "ns/net").c_str(), &st) == 0 && st.st_ino == mine.st_ino &&
        st.st_dev == mine.st_dev)
      out.push_back(p);
  }
  return out;
}

std::vector<std::string> Namespace::enter(const std::vector<std::string>& argv) const {
  std::vector<std::string> out{"nsenter", "-t", std::to_string(pid_), "-n"};
  if (isolated_) out.insert(out.end(), {"-m", "-u"});
  out.push_back("--");
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

core::ExecResult Namespace::run(const std::vector<std::string>& argv,
                                const std::map<std::string, std::string>& env,
                                std::chrono::milliseconds timeout) const {
  core::ExecOptions o;
  o.env = env;
  o.timeout = timeout;
  auto r = core::run(enter(argv), o);
  if (!r) throw std::runtime_error(r.error().message());
  return std::move(r).value();
}

std::string Namespace::must(const std::vector<std::string>& argv) const {
  auto r = run(argv);
  if (!r.success()) {
    std::string line;
    for (const auto& a : argv) line += " " + a;
    throw std::runtime_error("failed:" + line + ": " + r.describe() + ": " + r.err);
  }
  return r.out;
}

std::filesystem::path Namespace::inside(const std::string& guest) const {
  return "/proc/" + std::to_string(pid_) + "/root" + guest;
}

Daemon::Daemon(const std::vector<std::string>& argv) {
  std::vector<char*> c_argv;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  auto path = core::find_program(argv.at(0));
  if (!path) throw std::runtime_error("no program " + argv.at(0));
  pid_ = fork_child();  // dies with the test process
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::execv(path->c_str(), c_argv.data());
    ::_exit(127);
  }
}

Daemon::~Daemon() {
  kill_and_reap(pid_);
}

bool Daemon::running() const {
  if (pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
  return pid_ > 0;
}

std::string need_program(const std::string& name, const std::string& package) {
  auto path = core::find_program(name);
  if (!path)
    GUESTKIT_SKIP(name + " is not installed (Debian package " + package + ", see scripts/setup)");
  return *path;
}

}  // namespace guestkit::test
