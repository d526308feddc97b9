#pragma once
// User hooks: executables in config.hooks_dir (/etc/guestkit/hooks) named after an
// event (post-iface-attach, pre-iface-detach, post-disk-attach, pre-disk-detach...),
// run with the event's arguments. Shared by every plugin that offers a hook.
//
// A hook is run only if it is a regular executable file owned by root (or the caller)
// and not writable by group or others: like external plugins, a file anybody could
// have written must never become root's code. It runs without a shell, in a clean
// environment (GUESTKIT_ROOT, GUESTKIT_HOOK, GUESTKIT_VERSION, plus `env`), killed
// after plugins.timeout; its output is logged line by line.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {

// Hook names: a word of [a-z0-9-], like the plugin names they stand beside.
bool valid_hook_name(std::string_view name);

// Runs the hook `name` with `args` if it exists. Outcome::skipped when there is none
// (or it is not executable), changed when it ran (or would have, in dry-run); an
// Error when it is unsafe, cannot be started, fails or times out.
core::Result<Outcome> run_hook(const core::Context& ctx, std::string_view name,
                               const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env = {});

}  // namespace guestkit::plugins
