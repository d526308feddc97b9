#include "core/exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/exec_path.hpp"
#include "core/fd.hpp"
#include "core/paths.hpp"
#include "core/root.hpp"

// glibc >= 2.34: closefrom as a spawn action; >= 2.29: chdir as a spawn action.
// Nested so a libc without __GLIBC_PREREQ does not trip over it.
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
#define GUESTKIT_SPAWN_CLOSEFROM 1
#endif
#if __GLIBC_PREREQ(2, 29)
#define GUESTKIT_SPAWN_CHDIR 1
#endif
#endif

namespace guestkit::core {
namespace {

using detail::build_env;
using detail::lookup;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// After the direct child exits, a grandchild (a daemon that forgot to close its
// stdout) may hold our pipes open forever; we only wait this long for the rest.
constexpr milliseconds kDrainAfterExit{100};
// Without a pidfd, child exit is polled with waitid(WNOHANG) at this growing interval.
constexpr milliseconds kMaxExitPoll{50};
constexpr std::size_t kChunk = 64 * 1024;
// Longer waits are clamped so that now + timeout cannot overflow the clock.
constexpr milliseconds kMaxWait = std::chrono::hours(24 * 365);

milliseconds clamp_wait(milliseconds wait) { return std::clamp(wait, milliseconds(0), kMaxWait); }

std::vector<char*> c_array(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// The child's ends get dup2()ed onto 0-2 in order; a source that is itself 0-2 (the
// caller closed its stdio) could be overwritten by an earlier dup2, so move it up.
Result<UniqueFd> above_stdio(UniqueFd fd) {
  if (fd.get() > STDERR_FILENO) return fd;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  if (moved < 0) return errno_error("fcntl F_DUPFD_CLOEXEC");
  return UniqueFd(moved);
}

struct Pipe {
  UniqueFd parent;  // non-blocking
  UniqueFd child;   // blocking, moved above stdio
};

Result<Pipe> make_pipe(bool child_reads) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return errno_error("pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  Pipe p;
  p.parent = std::move(child_reads ? write_end : read_end);
  auto child = above_stdio(std::move(child_reads ? read_end : write_end));
  if (!child) return std::move(child).error();
  p.child = std::move(child).value();
  int flags = ::fcntl(p.parent.get(), F_GETFL);
  if (flags < 0 || ::fcntl(p.parent.get(), F_SETFL, flags | O_NONBLOCK) < 0)
    return errno_error("fcntl O_NONBLOCK");
  return p;
}

struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
};
struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
};

// Only fds 0-2 may reach the child: an fd inherited without O_CLOEXEC (under inetd
// the agent's socket) would otherwise leak into every program we run.
// `from`: the first fd to close (4 when fd 3 carries the program for run_fd).
int add_close_others(posix_spawn_file_actions_t* fa, int from) {
#ifdef GUESTKIT_SPAWN_CLOSEFROM
  return posix_spawn_file_actions_addclosefrom_np(fa, from);
#else
  long max = std::min<long>(::sysconf(_SC_OPEN_MAX), 65536);
  for (int fd = from; fd < max; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || (flags & FD_CLOEXEC)) continue;
    if (int rc = posix_spawn_file_actions_addclose(fa, fd)) return rc;
  }
  return 0;
#endif
}

// Writes to a pipe whose reader is gone raise SIGPIPE; the agent must not die of it
// and must not depend on a process-wide SIG_IGN. Block it for this thread and consume
// the one our own write raised (only if it was not already pending before).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    was_pending_ = ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    int saved = errno;
    if (epipe_ && !was_pending_) {
      struct timespec zero {};
      while (::sigtimedwait(&set_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved;
  }
  void saw_epipe() { epipe_ = true; }

 private:
  sigset_t set_{};
  sigset_t old_{};
  bool was_pending_ = false;
  bool epipe_ = false;
};

// Owns the spawned child until it is reaped: on any early return or exception the
// whole process group is killed and the child reaped, so no path leaves a zombie.
class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  Child& operator=(Child&& other) noexcept {
    if (this != &other) {
      kill_and_reap();
      pid_ = std::exchange(other.pid_, -1);
    }
    return *this;
  }
  ~Child() { kill_and_reap(); }
  pid_t pid() const { return pid_; }
  void kill_and_reap() {
    if (pid_ <= 0) return;
    kill_group(SIGKILL);
    (void)reap();
  }
  // The child stays a zombie until reap(), so its pid, and the process group id, cannot
  // be reused meanwhile: kill(-pid) always targets the group we created.
  void kill_group(int sig) const { ::kill(-pid_, sig); }
  // Has the child exited? Checked without reaping (WNOWAIT), for the reason above.
  bool exited() const {
    siginfo_t info{};
    int rc;
    do rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    while (rc < 0 && errno == EINTR);
    return rc < 0 || info.si_pid != 0;  // an error (ECHILD) means nothing to wait for
  }
  Result<int> reap() {
    int status = 0;
    pid_t rc;
    do rc = ::waitpid(pid_, &status, 0);
    while (rc < 0 && errno == EINTR);
    pid_ = -1;
    if (rc < 0) return errno_error("waitpid");
    return status;
  }

 private:
  pid_t pid_ = -1;
};

UniqueFd open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  // Linux >= 5.3; older guest kernels give ENOSYS and we fall back to polling waitid.
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
#else
  (void)pid;
#endif
  return {};
}

// One read per wakeup, so a child that writes without pause cannot starve the
// deadline check.
void read_some(UniqueFd& fd, std::string& sink, std::size_t max, bool& truncated) {
  std::array<char, kChunk> buf;
  ssize_t n;
  do n = ::read(fd.get(), buf.data(), buf.size());
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return;
  if (n <= 0) {  // EOF, or an error we cannot do anything about
    fd.reset();
    return;
  }
  std::size_t len = static_cast<std::size_t>(n);
  std::size_t room = max - std::min(max, sink.size());
  sink.append(buf.data(), std::min(room, len));
  if (len > room) truncated = true;
}

int poll_timeout(Clock::time_point now, Clock::time_point wake) {
  if (wake <= now) return 0;
  auto ms = std::chrono::ceil<milliseconds>(wake - now).count();
  return static_cast<int>(std::min<long long>(ms, 1 << 30));
}

struct Spawned {
  Child child;
  Pipe in, out, err;  // only .parent is still open
};

// The fd a run_fd program has in the child.
constexpr int kProgramFd = STDERR_FILENO + 1;

// Pipes where we feed or capture, /dev/null elsewhere, then posix_spawn. With
// `program_fd` >= 0 (above kProgramFd), it becomes the child's kProgramFd, kept open
// across exec. `display` names the program in errors.
Result<Spawned> spawn(const std::string& path, const std::vector<std::string>& argv,
                      const std::vector<std::string>& env, const ExecOptions& options,
                      int program_fd = -1, const std::string& display = {}) {
  Spawned s;
  UniqueFd dev_null;
  std::array<int, 3> child_fds{};
  const std::array<std::pair<Pipe*, bool>, 3> streams{{{&s.in, !options.stdin_data.empty()},
                                                       {&s.out, options.capture_stdout},
                                                       {&s.err, options.capture_stderr}}};
  for (std::size_t i = 0; i < streams.size(); ++i) {
    auto [pipe, use_pipe] = streams[i];
    if (use_pipe) {
      auto p = make_pipe(/*child_reads=*/i == 0);
      if (!p) return std::move(p).error();
      *pipe = std::move(p).value();
      child_fds[i] = pipe->child.get();
      continue;
    }
    if (!dev_null) {
      UniqueFd opened(::open(paths::kDevNull, O_RDWR | O_CLOEXEC));
      if (!opened) return errno_error(std::string("open ") + paths::kDevNull);
      auto fd = above_stdio(std::move(opened));
      if (!fd) return std::move(fd).error();
      dev_null = std::move(fd).value();
    }
    child_fds[i] = dev_null.get();
  }

  FileActions actions;
  SpawnAttr attr;
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; ++i)
    rc = posix_spawn_file_actions_adddup2(&actions.fa, child_fds[i], i);
  // After the stdio dup2s, so a pipe end that happened to be fd 3 was copied first.
  // dup2 onto another number leaves the copy without FD_CLOEXEC.
  if (rc == 0 && program_fd >= 0)
    rc = posix_spawn_file_actions_adddup2(&actions.fa, program_fd, kProgramFd);
  if (rc == 0) rc = add_close_others(&actions.fa, program_fd >= 0 ? kProgramFd + 1 : kProgramFd);
#ifdef GUESTKIT_SPAWN_CHDIR
  // Default "/" so a child never pins (or writes into) whatever directory we are in.
  if (rc == 0)
    rc = posix_spawn_file_actions_addchdir_np(&actions.fa, options.cwd.value_or("/").c_str());
#else
  if (rc == 0 && options.cwd) rc = ENOSYS;  // no way to chdir without a shell
#endif
  // Own process group, so a timeout can kill grandchildren too; default signal
  // dispositions and an empty mask, whatever the agent itself has set up.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  const short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (rc == 0) rc = posix_spawnattr_setflags(&attr.attr, flags);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&attr.attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr.attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr.attr, &none);
  const std::string& name = display.empty() ? path : display;
  if (rc != 0) return errno_error("prepare to run " + name, rc);

  auto c_argv = c_array(argv);
  auto c_env = c_array(env);
  pid_t pid = -1;
  rc = ::posix_spawn(&pid, path.c_str(), &actions.fa, &attr.attr, c_argv.data(), c_env.data());
  if (rc != 0) {
    std::string context = "run " + name;
    if (options.cwd) context += " in " + *options.cwd;
    return errno_error(std::move(context), rc);
  }
  s.child = Child(pid);
  for (auto* p : {&s.in, &s.out, &s.err}) p->child.reset();
  return s;
}

// Feeds stdin and collects output until the child has exited and the pipes are
// drained, or the deadline has passed and the group is killed. Does not reap.
Status supervise(Spawned& s, const ExecOptions& options, Clock::time_point start,
                 ExecResult& result) {
  UniqueFd pidfd = open_pidfd(s.child.pid());
  std::optional<SigpipeBlock> sigpipe;
  if (s.in.parent) sigpipe.emplace();
  std::size_t written = 0;
  const auto deadline = start + clamp_wait(options.timeout);
  Clock::time_point grace_deadline, drain_deadline;
  bool exited = false;
  milliseconds exit_poll{1};

  for (;;) {
    auto now = Clock::now();
    // What we are waiting for decides how long poll may sleep.
    Clock::time_point wake = result.timed_out ? grace_deadline : exited ? drain_deadline : deadline;
    if (!exited && !pidfd) {
      wake = std::min(wake, now + exit_poll);
      exit_poll = std::min(exit_poll * 2, kMaxExitPoll);
    }
    std::array<pollfd, 4> fds{};
    nfds_t n = 0;
    auto watch = [&](const UniqueFd& fd, short events) -> short* {
      if (!fd) return nullptr;
      fds[n] = {fd.get(), events, 0};
      return &fds[n++].revents;
    };
    short* in_ev = watch(s.in.parent, POLLOUT);
    short* out_ev = watch(s.out.parent, POLLIN);
    short* err_ev = watch(s.err.parent, POLLIN);
    short* pid_ev = exited ? nullptr : watch(pidfd, POLLIN);
    int ready = ::poll(fds.data(), n, poll_timeout(now, wake));
    if (ready < 0 && errno != EINTR) return errno_error("poll");  // ~Child kills and reaps
    if (in_ev && *in_ev) {
      // Also on POLLERR (reader gone): the write then fails with EPIPE, so the one
      // SIGPIPE path is taken every time instead of only when a race is lost.
      const auto& data = options.stdin_data;
      ssize_t w = ::write(s.in.parent.get(), data.data() + written, data.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 && errno == EPIPE) sigpipe->saw_epipe();  // the child wants no more input
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == data.size()) {
        s.in.parent.reset();
        sigpipe.reset();
      }
    }
    if (out_ev && *out_ev)
      read_some(s.out.parent, result.out, options.max_output, result.output_truncated);
    if (err_ev && *err_ev)
      read_some(s.err.parent, result.err, options.max_output, result.output_truncated);

    now = Clock::now();
    if (!exited && (!pidfd || (pid_ev && *pid_ev))) {
      exited = s.child.exited();
      if (exited) drain_deadline = now + kDrainAfterExit;
    }
    const bool pipes_open = s.in.parent || s.out.parent || s.err.parent;
    if (result.timed_out) {
      if ((exited && !pipes_open) || now >= grace_deadline) break;
    } else if (exited) {
      if (!pipes_open || now >= drain_deadline) break;
    } else if (now >= deadline) {
      result.timed_out = true;
      s.child.kill_group(SIGTERM);
      grace_deadline = now + clamp_wait(options.kill_grace);
    }
  }
  // After a timeout nothing of the group may survive, including grandchildren that
  // ignored SIGTERM; the zombie leader keeps the group id ours until reaped.
  if (result.timed_out) s.child.kill_group(SIGKILL);
  return {};
}

}  // namespace

std::string ExecResult::describe() const {
  char buf[128];
  if (timed_out) {
    std::snprintf(buf, sizeof buf, "timed out after %.1f s",
                  std::chrono::duration<double>(duration).count());
  } else if (signal != 0) {
    const char* name = ::strsignal(signal);
    std::snprintf(buf, sizeof buf, "killed by signal %d (%s)", signal, name ? name : "unknown");
  } else {
    std::snprintf(buf, sizeof buf, "exited with status %d", exit_code);
  }
  return buf;
}

namespace {

Status check_argv(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) return make_error(Errc::bad_input, "run: empty argv");
  for (const auto& arg : argv)
    if (arg.find('\0') != std::string::npos)
      return make_error(Errc::bad_input, "run " + argv[0] + ": NUL in argument");
  return {};
}

Result<ExecResult> wait_for(Result<Spawned> spawned, const ExecOptions& options,
                            Clock::time_point start) {
  if (!spawned) return std::move(spawned).error();
  ExecResult result;
  if (auto io = supervise(*spawned, options, start, result); !io) return std::move(io).error();
  auto status = spawned->child.reap();
  result.duration = Clock::now() - start;
  if (!status) return std::move(status).error();
  if (WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  if (WIFSIGNALED(*status)) result.signal = WTERMSIG(*status);
  return result;
}

}  // namespace

Result<ExecResult> run(const std::vector<std::string>& argv, const ExecOptions& options) {
  if (auto c = check_argv(argv); !c) return std::move(c).error();
  auto path = lookup(argv[0]);
  if (!path) return std::move(path).error();
  auto env = build_env(options);
  if (!env) return std::move(env).error();
  const auto start = Clock::now();
  return wait_for(spawn(*path, argv, *env, options), options, start);
}

Result<ExecResult> run_fd(int program, const std::vector<std::string>& argv,
                          const ExecOptions& options, const std::vector<std::string>& interpreter) {
  if (auto c = check_argv(argv); !c) return std::move(c).error();
  if (!interpreter.empty())
    if (auto c = check_argv(interpreter); !c) return std::move(c).error();
  // Our own copy above kProgramFd: the child's dup2 onto kProgramFd then always makes
  // a new fd (dup2 of an fd onto itself would keep FD_CLOEXEC), and never one of 0-2.
  UniqueFd fd(::fcntl(program, F_DUPFD_CLOEXEC, kProgramFd + 1));
  if (!fd) return errno_error("run " + argv[0]);
  // The checked inode runs as /proc/self/fd/N: without /proc (a bare chroot) nothing
  // could exec it; say so rather than leave the child's ENOENT to explain it.
  if (::access(paths::kProcSelfFd, X_OK) < 0)
    return errno_error("run " + argv[0] + ": " + paths::kProcSelfFd +
                       " is not there (is /proc mounted?); a checked program runs through it");
  const std::string self = std::string(paths::kProcSelfFd) + "/" + std::to_string(kProgramFd);
  std::string path = self;
  std::vector<std::string> full = argv;
  if (!interpreter.empty()) {
    auto found = lookup(interpreter[0]);
    if (!found) return std::move(found).error();
    path = *found;
    full = interpreter;
    full.push_back(self);
    full.insert(full.end(), argv.begin() + 1, argv.end());
  }
  auto env = build_env(options);
  if (!env) return std::move(env).error();
  const auto start = Clock::now();
  return wait_for(spawn(path, full, *env, options, fd.get(), argv[0]), options, start);
}

Error exec_replace(const std::vector<std::string>& argv, const ExecOptions& options) {
  if (argv.empty() || argv[0].empty()) return make_error(Errc::bad_input, "exec: empty argv");
  for (const auto& arg : argv)
    if (arg.find('\0') != std::string::npos)
      return make_error(Errc::bad_input, "exec " + argv[0] + ": NUL in argument");
  auto path = lookup(argv[0]);
  if (!path) return std::move(path).error();
  auto env = build_env(options);
  if (!env) return std::move(env).error();
  // Our own fds are O_CLOEXEC; one inherited without it must not reach the program.
  long max = std::min<long>(::sysconf(_SC_OPEN_MAX), 65536);
  for (int fd = STDERR_FILENO + 1; fd < max; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  auto c_argv = c_array(argv);
  auto c_env = c_array(*env);
  ::execve(path->c_str(), c_argv.data(), c_env.data());
  return errno_error("exec " + *path);
}

}  // namespace guestkit::core
