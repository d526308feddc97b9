#include "core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::core {
namespace {

using Clock = std::chrono::steady_clock;

std::string proc_path(pid_t pid, std::string_view file) {
  return std::string(paths::kProcDir) + "/" + std::to_string(pid) + "/" + std::string(file);
}

std::string base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

Result<Process> Process::open(pid_t pid) {
  if (pid <= 0) return make_error(Errc::bad_input, "process " + std::to_string(pid));
#ifdef SYS_pidfd_open
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) return errno_error("process " + std::to_string(pid));
  return Process(pid, UniqueFd(static_cast<int>(fd)));
#else
  return errno_error("process " + std::to_string(pid) + ": pidfd_open", ENOSYS);
#endif
}

Status Process::signal(int sig) const {
#ifdef SYS_pidfd_send_signal
  if (::syscall(SYS_pidfd_send_signal, fd_.get(), sig, nullptr, 0) < 0)
    return errno_error("signal process " + std::to_string(pid_));
  return {};
#else
  (void)sig;
  return errno_error("signal process " + std::to_string(pid_), ENOSYS);
#endif
}

// Signal 0 checks without signalling; it also succeeds on a zombie, which still
// holds the pid, so a success proves the pid was not reused.
Status Process::still_ours(const std::string& what) const {
  if (auto s = signal(0); !s)
    return errno_error(what + ": process " + std::to_string(pid_) + " has exited", ESRCH);
  return {};
}

Result<std::string> Process::read_proc(std::string_view file, std::size_t limit) const {
  const std::string path = proc_path(pid_, file);
  auto text = read_file(Root::host(), path, limit);
  if (!text) {
    // A /proc/PID that vanished means the process went.
    if (text.error().code == std::errc::no_such_file_or_directory) return errno_error(path, ESRCH);
    return std::move(text).error();
  }
  if (auto s = still_ours(path); !s) return std::move(s).error();
  return text;
}

Result<std::string> Process::comm() const {
  auto text = read_proc("comm", 64);
  if (text && !text->empty() && text->back() == '\n') text->pop_back();
  return text;
}

Result<std::string> Process::exe() const {
  const std::string path = proc_path(pid_, "exe");
  std::string buf(4096, '\0');
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) return errno_error("readlink " + path, errno == ENOENT ? ESRCH : errno);
  buf.resize(static_cast<std::size_t>(n));
  if (auto s = still_ours(path); !s) return std::move(s).error();
  return buf;
}

Result<std::vector<std::string>> Process::cmdline() const {
  auto text = read_proc("cmdline", 1 << 16);
  if (!text) return std::move(text).error();
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start < text->size()) {
    auto end = text->find('\0', start);
    if (end == std::string::npos) end = text->size();
    argv.push_back(text->substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

Result<bool> Process::is_program(const std::vector<std::string>& programs) const {
  auto name = comm();
  if (!name) return std::move(name).error();
  if (std::find(programs.begin(), programs.end(), *name) != programs.end()) return true;
  // comm is cut at 15 bytes and a process may set it; the exe is what it runs. Not
  // readable for another user's process without privileges: then comm decides.
  auto path = exe();
  if (!path) {
    if (path.error().code == std::errc::no_such_process) return std::move(path).error();
    return false;
  }
  std::string_view p = *path;
  constexpr std::string_view kDeleted = " (deleted)";
  if (p.ends_with(kDeleted)) p.remove_suffix(kDeleted.size());
  return std::find(programs.begin(), programs.end(), base_name(p)) != programs.end();
}

bool Process::wait_exit(std::chrono::milliseconds timeout) const {
  // A pidfd polls readable once the process has exited, child of ours or not.
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd_.get(), POLLIN, 0};
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    int rc = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left, 0, 1 << 30)));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

Status Process::stop(std::chrono::milliseconds grace) const {
  if (auto s = signal(SIGTERM); !s) {
    if (s.error().code == std::errc::no_such_process) return {};
    return s;
  }
  if (wait_exit(grace)) return {};
  if (auto s = signal(SIGKILL); !s && s.error().code != std::errc::no_such_process) return s;
  // SIGKILL cannot be caught; give the kernel a moment to tear the process down.
  if (!wait_exit(grace))
    return make_error(Errc::timed_out,
                      "process " + std::to_string(pid_) + " did not exit after SIGKILL");
  return {};
}

Result<pid_t> read_pid_file(const Root& root, std::string_view pid_file) {
  auto text = read_file(root, pid_file, 64);
  if (!text) return std::move(text).error();
  std::string_view line(*text);
  line = line.substr(0, line.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
    line.remove_suffix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
  // pid 1 is init: no pid file of ours ever names it, and signalling it is never right.
  if (line.empty() || ec != std::errc() || end != line.data() + line.size() || pid <= 1)
    return make_error(Errc::bad_input, root.display(pid_file) + " does not hold a process id");
  return pid;
}

Result<Process> open_pid_file(const Root& root, std::string_view pid_file,
                              const std::vector<std::string>& programs) {
  auto pid = read_pid_file(root, pid_file);
  if (!pid) return std::move(pid).error();
  const std::string what = root.display(pid_file) + " names process " + std::to_string(*pid);
  auto process = Process::open(*pid);
  if (!process) {
    if (process.error().code == std::errc::no_such_process)
      return errno_error(what + ", which does not run (a stale pid file)", ESRCH);
    return std::move(process).error();
  }
  auto ok = process->is_program(programs);
  if (!ok) return std::move(ok).error();
  if (!*ok) {
    auto comm = process->comm();
    std::string want;
    for (const auto& p : programs) want += (want.empty() ? "" : " or ") + p;
    return make_error(Errc::unsafe, what + " (" + (comm ? *comm : std::string("?")) + "), not " +
                                        want + " (a stale pid file)");
  }
  return process;
}

Result<pid_t> signal_pid_file(const Root& root, std::string_view pid_file,
                              const std::vector<std::string>& programs, int sig) {
  auto process = open_pid_file(root, pid_file, programs);
  if (!process) return std::move(process).error();
  if (auto s = process->signal(sig); !s) return std::move(s).error();
  return process->pid();
}

TerminationDeferred::TerminationDeferred() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, &old_);
}

// Restoring the mask delivers what came meanwhile: by its default action, the stop.
TerminationDeferred::~TerminationDeferred() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

}  // namespace guestkit::core
