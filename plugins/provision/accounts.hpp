#pragma once
// The guest's accounts, through shadow-utils: useradd/usermod/chpasswd with
// `--root DIR` when the root is not "/" (they chroot there, so a temp root needs only
// /etc/{passwd,shadow,group,gshadow}). Lookups read the guest's own files, never the
// host's NSS. Password hashes go to `chpasswd -e` on stdin, never argv.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::provision {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;   // guest path
  std::string gecos = {};  // the comment field
  std::string shell = {};
};

// From the guest's /etc/passwd; std::nullopt when absent.
core::Result<std::optional<Account>> find_account(const core::Root& root, const std::string& name);
// From the guest's /etc/group.
core::Result<std::optional<gid_t>> find_group(const core::Root& root, const std::string& name);
// uid below 1000 (or nobody's 65534): a name the admin user may never take over.
bool is_system_account(const Account& account);
// "sudo" when the image has that group, else "wheel"; Errc::bad_input when neither.
core::Result<std::string> admin_group(const core::Root& root);
// The groups that give sudo rights on the images we know ("sudo", "wheel").
inline constexpr const char* kAdminGroups[] = {"sudo", "wheel"};
// Of kAdminGroups, those the image has with `name` as a supplementary member.
core::Result<std::vector<std::string>> admin_groups_of(const core::Root& root,
                                                       const std::string& name);
// `gpasswd --delete NAME GROUP` (with --root when the root is not "/").
core::Status leave_group(const core::Root& root, const std::string& name, const std::string& group);

enum class Sudo { none, password, nopasswd };

// Creates `name` (useradd: its own group, bash when the image has it, home under
// /home) or, when it exists, adds the groups; both with supplementary `groups`.
// Either way it first makes good what a killed useradd left (clear_stale_shadow_locks,
// repair_account) and then gives the user its home when it has none (ensure_home).
// A provision killed at any point thus completes on the next try. Returns true
// when it created the user.
core::Result<bool> ensure_user(const core::Root& root, const std::string& name,
                               const std::vector<std::string>& groups);

// Removes /etc/{passwd,shadow,group,gshadow}.lock when the pid it names is gone, a
// zombie, or a process started after the lock was written (a recycled pid, as after
// a reboot): shadow-utils itself only clears a lock whose pid does not exist.
core::Status clear_stale_shadow_locks(const core::Root& root);
// For a user in /etc/passwd: its shadow entry (pwconv), its primary group (groupadd
// --gid) and that group's gshadow entry (grpconv), when missing.
core::Status repair_account(const core::Root& root, const Account& account);
// The user's home, when it does not exist, as useradd -m makes it: parents root's
// 0755, /etc/skel copied (files, directories, links; owned by the user), mode
// HOME_MODE of /etc/login.defs, else 0777 & ~UMASK, else 0755. Built under a temporary
// name and renamed into place, so it is never half there. An existing directory is
// left alone; anything else there is an error. Returns true when it created it.
core::Result<bool> ensure_home(const core::Root& root, const Account& account);
mode_t home_mode(const core::Root& root);

// `chpasswd -e` with "name:HASH" on stdin.
core::Status set_password_hash(const core::Root& root, const std::string& name,
                               const core::Secret& hash);

// /etc/sudoers.d/90-guestkit-NAME (0440, root), checked with `visudo -cf` when visudo
// exists before it is put in place; Sudo::none removes it. Returns whether it changed.
core::Result<bool> write_sudoers(const core::Root& root, const std::string& name, Sudo sudo);
// The drop-in's text (unit tests).
std::string sudoers_text(const std::string& name, Sudo sudo);
std::string sudoers_path(const std::string& name);

}  // namespace guestkit::plugins::provision
