#pragma once
// SSH host keys through the Root, shared by 04-reset-identity (a clone gets new
// keys) and 11-config-ssh (missing keys are generated).

#include <string>
#include <vector>

#include "plugins/plugin.hpp"

namespace guestkit::plugins::boot {

// /etc/ssh as a real directory: false when absent (no OpenSSH in the image); an
// Error when it is a symlink or not a directory.
core::Result<bool> ssh_dir_present(const core::Root& root);

// Key types `ssh-keygen -A` makes (rsa, ecdsa, ed25519) whose private key is missing.
core::Result<std::vector<std::string>> missing_host_keys(const core::Root& root);

// ssh-keygen -A, with -f PREFIX when the root is not the host (it then writes
// PREFIX/etc/ssh/ssh_host_*). Run under boot.plugin_timeout.
core::Status generate_host_keys(const core::Context& ctx);

// Removes every /etc/ssh/ssh_host_*_key and ssh_host_*_key.pub (never through a
// symlink); returns how many files.
core::Result<int> remove_host_keys(const core::Root& root);

}  // namespace guestkit::plugins::boot
