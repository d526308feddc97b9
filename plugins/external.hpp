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
ExternalResult run_external(core::Context& ctx, const std::string& label, const std::string& guest_path,
                            const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env,
                            std::optional<std::chrono::milliseconds> timeout = std::nullopt);

// Runs hook `name` from config.hooks_dir if present. Returns false when there is no
// such hook; a hook that is present but unsafe or fails is an Error.
core::Result<bool> run_hook(core::Context& ctx, const std::string& name,
                            const std::vector<std::string>& args);

}  // namespace guestkit::plugins
