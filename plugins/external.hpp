#pragma once
// External programs the admin or vendor puts in place: plugins.d executables and user
// hooks (post-disk-attach, pre-disk-detach, post-iface-attach, ...). One set of rules
// for both: a regular executable file owned by root (or us), not writable by group or
// others; a symlink to /dev/null masks it. Run without a shell, in a clean
// environment, with a timeout; output is logged line by line.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/fd.hpp"
#include "core/result.hpp"

namespace guestkit::plugins {

// An external program opened once through the Root: the inode that was checked is
// the one that runs (core::run_fd), so swapping the file, or a directory above it,
// after the check changes nothing. The rules, on the open descriptor: a regular
// file, executable, owned by root (or us), not writable by group or others; and
// every directory from the root down to it (and, for a symlink, down to the link
// too) owned by root (or us) and not writable by group or others, sshd's StrictModes
// walk. A symlink is followed inside the root.
struct Executable {
  core::UniqueFd fd;       // O_PATH on the checked file; empty when `problem` is set
  std::string guest_path;  // as asked
  std::string host_path;   // of the file opened: argv[0] and messages
  // "" when it may run. Otherwise why not: "missing", "masked (symlink to /dev/null)",
  // "not executable", "unsafe: ..." (the same words executable_problem gives).
  std::string problem;
  // Runs the file through this interpreter (e.g. {"/bin/sh"}) instead of executing it
  // directly: for a script without "#!". Empty: the kernel decides (ELF or "#!").
  std::vector<std::string> interpreter;

  bool runnable() const { return problem.empty(); }
  bool missing_or_masked() const { return problem == "missing" || problem.starts_with("masked"); }
};
Executable open_executable(const core::Root& root, const std::string& guest_path);

// The first `n` bytes (fewer if the file is shorter) of the opened file, read from the
// very inode (reopened through its descriptor): to choose an interpreter for a script
// without "#!" without looking the path up again.
core::Result<std::string> read_head(const Executable& exe, std::size_t n);

// Why the executable at `guest_path` must not run ("" when it may): open_executable's
// problem. For listings; to run a program, open it and run what was opened.
std::string executable_problem(const core::Root& root, const std::string& guest_path);

struct ExternalResult {
  bool ok = false;
  bool ran = false;     // false when it could not be started (or dry run)
  std::string message;  // "exited with status 3", "timed out after 2.0 s", "dry run"
};

// Runs the opened program `exe` (which must be runnable()) with `args`. As
// run_external below.
ExternalResult run_executable(core::Context& ctx, const std::string& label, const Executable& exe,
                              const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env,
                              std::optional<std::chrono::milliseconds> timeout = std::nullopt);

// open_executable(guest_path), then run_executable: a program with a problem is not
// run (ran false, the problem as message). Runs `guest_path` with `args`. The environment has
// GUESTKIT_ROOT, GUESTKIT_VERSION, `env`, and the caller's extra variables. In dry-run mode prints
// "would run ..." and runs nothing. `label` prefixes every logged output line. Killed after
// `timeout` (default: plugins.timeout).
ExternalResult run_external(core::Context& ctx, const std::string& label,
                            const std::string& guest_path, const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env,
                            std::optional<std::chrono::milliseconds> timeout = std::nullopt);

// The directories hook `name` is looked up in, first found wins: config.hooks_dir,
// then gandi-hosting-vm2's (config.legacy_hooks_dir, GANDI_HOOK_DIR), then guestkit's
// copy of it (/etc/guestkit/legacy/hooks), so the old hooks keep running. A mask
// (symlink to /dev/null) in an earlier directory hides the later ones.
std::vector<std::string> hook_dirs(const core::Config& config);

// The guest path of the hook that would run for `name`, or "" when none would.
std::string find_hook(const core::Root& root, const core::Config& config, const std::string& name);

// Whether the file starts with neither "#!" nor an ELF header: the old gandi scripts
// ran their hooks from a shell, which runs such a file as a shell script (execve's
// ENOEXEC); guestkit runs it with /bin/sh and says so.
// Read from the opened inode (read_head), never the path again.
bool needs_shell(const Executable& exe);

// Runs hook `name` (found as find_hook does) if present. Returns false when there is
// no such hook; a hook that is present but unsafe or fails is an Error.
core::Result<bool> run_hook(core::Context& ctx, const std::string& name,
                            const std::vector<std::string>& args);

}  // namespace guestkit::plugins
