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
#include "core/result.hpp"

namespace guestkit::plugins {

// Why the executable at `guest_path` must not run ("" when it may). Missing files
// give "missing"; a link to /dev/null gives "masked (symlink to /dev/null)".
std::string executable_problem(const core::Root& root, const std::string& guest_path);

struct ExternalResult {
  bool ok = false;
  bool ran = false;     // false when it could not be started (or dry run)
  std::string message;  // "exited with status 3", "timed out after 2.0 s", "dry run"
};

// Runs `guest_path` with `args`. The environment has GUESTKIT_ROOT, GUESTKIT_VERSION,
// `env`, and the caller's extra variables. In dry-run mode prints "would run ..." and
// runs nothing. `label` prefixes every logged output line. Killed after `timeout`
// (default: plugins.timeout).
// With `interpreter` (a host path), runs `interpreter guest_path args...` instead.
ExternalResult run_external(core::Context& ctx, const std::string& label, const std::string& guest_path,
                            const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env,
                            std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                            const std::string& interpreter = {});

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
bool needs_shell(const core::Root& root, const std::string& guest_path);

// Runs hook `name` (found as find_hook does) if present. Returns false when there is
// no such hook; a hook that is present but unsafe or fails is an Error.
core::Result<bool> run_hook(core::Context& ctx, const std::string& name,
                            const std::vector<std::string>& args);

}  // namespace guestkit::plugins
