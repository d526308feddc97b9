#pragma once
// exec: run an external program without a shell. posix_spawn with an argv vector, a
// clean environment, stdin fed from memory, stdout/stderr captured, a deadline after
// which the child's process group gets SIGTERM then SIGKILL. Secrets go through
// stdin, never argv or the environment.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace guestkit::core {

// PATH used to find programs and given to children. Never the caller's PATH.
inline constexpr const char* kSafePath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct ExecOptions {
  std::string stdin_data;           // written to the child's stdin, then closed
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds kill_grace{500};  // SIGTERM -> SIGKILL
  // Child environment: PATH=kSafePath and LC_ALL=C, plus these (which may override).
  std::map<std::string, std::string> env;
  std::optional<std::string> cwd;   // host path; default "/"
  bool capture_stdout = true;       // else the child's stdout is /dev/null
  bool capture_stderr = true;       // else /dev/null
  std::size_t max_output = 1 << 20; // per stream; the rest is read and dropped
};

struct ExecResult {
  int exit_code = -1;  // valid when signal == 0 and !timed_out
  int signal = 0;      // terminating signal, 0 if exited
  bool timed_out = false;
  bool output_truncated = false;
  std::string out;
  std::string err;
  std::chrono::nanoseconds duration{};

  bool success() const noexcept { return !timed_out && signal == 0 && exit_code == 0; }
  // "exited with status 3", "killed by signal 9 (Killed)", "timed out after 2.0 s"
  std::string describe() const;
};

// Runs argv[0] (looked up in kSafePath when it has no '/'). Returns an Error only
// when the program could not be started (not found, not executable, no fds); a
// program that ran and failed is a successful Result with a non-zero exit.
Result<ExecResult> run(const std::vector<std::string>& argv, const ExecOptions& options = {});

// run(), for a tool whose failure is an error: a program that could not start, or
// that ran and failed, is Errc::failed "TOOL exited with status N: its stderr" (the
// stderr's trailing blanks trimmed). The one error-text policy for useradd, usermod,
// chage, pwconv... (the tools never get a secret in argv, so their stderr can be shown).
Status run_checked(const std::vector<std::string>& argv, const ExecOptions& options = {});

// Runs the program open at `program` (an fd from open(2), O_PATH is enough, that the
// caller has checked): the kernel executes that very inode, whatever the path it was
// opened by names by now. In the child it is fd 3, not close-on-exec, executed as
// /proc/self/fd/3, so a `#!` script's interpreter can open it by that name (which is
// also what the script sees as $0); argv[0] is the name the program sees otherwise.
// With `interpreter` (e.g. {"/bin/sh"}, looked up like run()), runs
// `interpreter... /proc/self/fd/3 argv[1]...` instead: for a script without `#!`.
// Errors and results as run().
Result<ExecResult> run_fd(int program, const std::vector<std::string>& argv,
                          const ExecOptions& options = {},
                          const std::vector<std::string>& interpreter = {});

// Replaces the current process with argv[0] (found like run() does), with the same
// clean environment (kSafePath, LC_ALL=C, plus options.env); stdio and the process id
// stay, every other fd is closed on exec. For a wrapper that a service manager runs
// and must see as the program itself (guestkit-dhcp under systemd). Returns only on
// failure. Only options.env is used.
Error exec_replace(const std::vector<std::string>& argv, const ExecOptions& options = {});

// Finds a program by name in kSafePath under `prefix` ("/" normally); the host path.
std::optional<std::string> find_program(std::string_view name, std::string_view prefix = "/");

}  // namespace guestkit::core
