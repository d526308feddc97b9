#pragma once
// What an order's `users` entries add to `admin`'s account handling (accounts.hpp),
// through shadow-utils with `--root DIR` when the root is not "/": the login shell
// and comment, a locked password, an expired one.

#include <optional>
#include <string>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::provision {

// `usermod --shell S --comment C NAME` for what is given and differs from the guest's
// /etc/passwd. Returns whether it changed anything.
core::Result<bool> set_user_details(const core::Root& root, const std::string& name,
                                    const std::optional<std::string>& shell,
                                    const std::optional<std::string>& gecos);
// `usermod --lock NAME`: a '!' in front of the hash, so no password opens the account;
// SSH keys still do. When /etc/shadow already has a '!' there, nothing is run (usermod
// would add none, but would rewrite and sync every account file).
core::Status lock_password(const core::Root& root, const std::string& name);
// `chage --lastday 0 NAME`: the password must be changed at the next login.
core::Status expire_password(const core::Root& root, const std::string& name);

}  // namespace guestkit::plugins::provision
