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

#include "core/paths.hpp"
#include "core/result.hpp"

namespace guestkit::core {

struct Context;

// PATH used to find programs and given to children. Never the caller's PATH.
inline constexpr const char* kSafePath = paths::kSafePath;

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

  bool dry_run = false;  // not run: run_tool(ctx, ...) reported it (would_run)

  bool success() const noexcept { return !timed_out && signal == 0 && exit_code == 0; }
  // "exited with status 3", "killed by signal 9 (Killed)", "timed out after 2.0 s"
  std::string describe() const;
};

// Runs argv[0] (looked up in kSafePath when it has no '/'). Returns an Error only
// when the program could not be started (not found, not executable, no fds); a
// program that ran and failed is a successful Result with a non-zero exit.
Result<ExecResult> run(const std::vector<std::string>& argv, const ExecOptions& options = {});

// ---- Tools: the one way guestkit runs a system tool (mkswap, useradd, networkctl...).
// argv, never a shell; a secret goes in stdin_data, never argv or the environment, so
// argv and the tool's own messages can be shown. Logged at debug ("run ARGV", then
// "TOOL: exited with status N"); the caller decides what else to say.

struct ToolOptions : ExecOptions {
  // A tool that ran and failed (exit status not 0, a signal, the timeout) is an Error
  // with tool_error()'s text; false: a Result the caller reads (e2fsck's 1, growpart's
  // NOCHANGE, modprobe's 1 are no failure).
  bool failure_is_error = true;
};

// What a tool does, for the dry-run policy of run_tool(ctx, ...).
enum class ToolEffect {
  reads,         // runs even in dry-run: its answer decides what would be done
  changes,       // not run in dry-run (an image under --root is still changed)
  changes_live,  // acts on the running system: not run in dry-run nor under --root
};

// Runs the tool. An Error when it cannot start (not installed: ENOENT naming it, as
// run()) and, with failure_is_error, when it ran and failed.
Result<ExecResult> run_tool(const std::vector<std::string>& argv, const ToolOptions& options = {});

// The same under `ctx`: a tool whose `effect` may not act now is not run; would_run()
// reports it instead and the result is ExecResult::dry_run (success, no output).
Result<ExecResult> run_tool(const Context& ctx, ToolEffect effect,
                            const std::vector<std::string>& argv, const ToolOptions& options = {});

// Dry-run's one report of a program not run: "would run ARGV" on ctx's output.
void would_run(const Context& ctx, const std::vector<std::string>& argv);

// The one error text of a tool that ran and failed, Errc::failed: "TOOL exited with
// status N: TAIL", "TOOL killed by signal 9 (Killed): TAIL", "TOOL timed out after
// 2.0 s: TAIL". TOOL is argv[0]; TAIL is the last lines of its stderr (of its stdout
// when stderr is empty: sgdisk and growpart report there), at most kToolTailLines
// lines and kToolTailBytes bytes, control characters escaped, lines joined by "; ".
inline constexpr std::size_t kToolTailLines = 3;
inline constexpr std::size_t kToolTailBytes = 400;
Error tool_error(const std::vector<std::string>& argv, const ExecResult& result);

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
