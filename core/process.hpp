#pragma once
// Process: a running process held by a pidfd (pidfd_open), so that what is checked
// (its comm, exe, cmdline) and what is signalled are the same process, never a pid
// looked up twice. A pid file names a pid; by the time it is read that pid may belong
// to anything (a daemon that died, a recycled pid): signal_pid_file signals it only
// if it is the program the caller expects. Live system only (pids are the kernel's).

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/fd.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::core {

class Process {
 public:
  // pidfd_open(pid). ESRCH when there is no such process, ENOSYS before Linux 5.3.
  static Result<Process> open(pid_t pid);

  pid_t pid() const noexcept { return pid_; }

  // Read from /proc/PID, then proven to be this process's: the pidfd's process still
  // holds the pid after the read (a pid is only reused once its zombie is reaped), so
  // the pid cannot have changed hands in between. ESRCH when it has exited.
  Result<std::string> comm() const;                  // /proc/PID/comm, no newline
  Result<std::string> exe() const;                   // target of /proc/PID/exe
  Result<std::vector<std::string>> cmdline() const;  // /proc/PID/cmdline

  // comm or the exe's file name (" (deleted)" after an upgrade ignored) is one of
  // `programs`. An error (ESRCH) when the process has gone meanwhile.
  Result<bool> is_program(const std::vector<std::string>& programs) const;

  // pidfd_send_signal: always this process, or ESRCH if it has exited.
  Status signal(int sig) const;
  // Waits for the process to exit (or become a zombie); true when it has.
  bool wait_exit(std::chrono::milliseconds timeout) const;
  // SIGTERM, then SIGKILL after `grace`. Success when it is gone.
  Status stop(std::chrono::milliseconds grace) const;

 private:
  Process(pid_t pid, UniqueFd fd) : pid_(pid), fd_(std::move(fd)) {}
  Result<std::string> read_proc(std::string_view file, std::size_t limit) const;
  Status still_ours(const std::string& what) const;

  pid_t pid_ = -1;
  UniqueFd fd_;
};

// The pid in a pid file (first line, a decimal > 1). ENOENT when the file does not
// exist, Errc::bad_input when it holds no pid.
Result<pid_t> read_pid_file(const Root& root, std::string_view pid_file);

// The process a pid file names, opened as a Process, if it is one of `programs`
// (Process::is_program). A pid file naming a process that has gone or another
// program is an error (ESRCH, Errc::unsafe) saying which pid and which program, and
// nothing is signalled. The pid file is read through `root`; the process is the live
// system's.
Result<Process> open_pid_file(const Root& root, std::string_view pid_file,
                              const std::vector<std::string>& programs);

// open_pid_file, then Process::signal. Returns the pid signalled.
Result<pid_t> signal_pid_file(const Root& root, std::string_view pid_file,
                              const std::vector<std::string>& programs, int sig);

// Holds off the signals that stop a program (SIGTERM, SIGINT, SIGHUP) while a change
// that must be finished or not made at all is in flight: a disk mounted but not yet
// recorded, which nothing would ever unmount. A stop that arrives meanwhile (systemd
// stopping a unit whose device went away) stays pending and takes effect when the
// guard goes, once the change is complete and undoable. Keep the window short: no
// waiting inside it. Programs started meanwhile get an empty mask (core/exec).
class TerminationDeferred {
 public:
  TerminationDeferred();
  ~TerminationDeferred();
  TerminationDeferred(const TerminationDeferred&) = delete;
  TerminationDeferred& operator=(const TerminationDeferred&) = delete;

 private:
  sigset_t old_{};
};

}  // namespace guestkit::core
