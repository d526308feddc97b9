#pragma once
// Small pieces the boot stage plugins share: the options of the tools they run, the
// kernel command line, the root filesystem's device, and atomic symlinks.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/exec.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins::boot {

// The options of every tool a built-in boot plugin runs (core::run_tool):
// boot.plugin_timeout bounds each (HACKING.md, "boot.plugin_timeout for built-ins").
core::ToolOptions tool_options(const core::Context& ctx, bool failure_is_error = true);

// core::kernel_arg: value of `key=` on <root>/proc/cmdline (the last one wins);
// nullopt when absent or unreadable. (The instance id is core::find_instance_id.)
std::optional<std::string> kernel_arg(const core::Root& root, std::string_view key);

// Host path of the block device holding the root filesystem: boot.root_device, or
// the device mounted at / (root is the host), or the one mounted at the root prefix
// (--root DIR where DIR is a mountpoint). nullopt when there is none (a plain
// directory tree, a filesystem without a block device).
std::optional<std::string> root_fs_device(const core::Context& ctx);

// Makes `guest` a symlink to `target` (verbatim) atomically: a temp link in the same
// directory, renamed over the name. The parent directory must exist; no symlink on
// the way to it is followed. Returns true when it changed something.
core::Result<bool> ensure_symlink(const core::Root& root, const std::string& guest,
                                  const std::string& target);

// Creates the directory (and parents) without following symlinks; error if a
// non-directory is in the way.
core::Status ensure_dir(const core::Root& root, const std::string& guest, mode_t mode);

}  // namespace guestkit::plugins::boot
