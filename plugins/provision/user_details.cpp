#include "plugins/provision/user_details.hpp"

#include <string.h>

#include <algorithm>
#include <string_view>
#include <vector>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/provision/accounts.hpp"

namespace guestkit::plugins::provision {
namespace {

core::Status run_shadow_tool(const core::Root& root, std::vector<std::string> head,
                             const std::string& name) {
  if (!root.is_host()) {
    head.push_back("--root");
    head.push_back(root.prefix().string());
  }
  head.push_back("--");
  head.push_back(name);
  if (auto r = core::run_tool(head); !r) return std::move(r).error();
  return {};
}

// The comment and shell fields of NAME's /etc/passwd line.
std::optional<std::pair<std::string, std::string>> passwd_fields(const core::Root& root,
                                                                 const std::string& name) {
  auto account = find_account(root, name);
  if (!account || !*account) return std::nullopt;
  return std::pair{(*account)->gecos, (*account)->shell};
}

}  // namespace

core::Result<bool> set_user_details(const core::Root& root, const std::string& name,
                                    const std::optional<std::string>& shell,
                                    const std::optional<std::string>& gecos) {
  const auto current = passwd_fields(root, name);
  std::vector<std::string> argv{"usermod"};
  if (shell && (!current || current->second != *shell))
    argv.insert(argv.end(), {"--shell", *shell});
  if (gecos && (!current || current->first != *gecos))
    argv.insert(argv.end(), {"--comment", *gecos});
  if (argv.size() == 1) return false;
  if (auto ok = run_shadow_tool(root, argv, name); !ok) return std::move(ok).error();
  return true;
}

core::Status lock_password(const core::Root& root, const std::string& name) {
  // Already locked (a new account's "!" from useradd, or a hash behind a '!'): usermod
  // would change nothing, yet rewrite and fsync passwd, shadow, group, gshadow and
  // their backups: six syncs, each a disk flush on the seed's path to sshd at first
  // boot (bench/README.md, seed-first-boot).
  if (auto shadow =
          core::read_file_if_exists(root, core::paths::kShadow, 16u << 20, core::Follow::never);
      shadow && *shadow) {
    // Scanned in place (no copies of other accounts' hashes), then wiped.
    const std::string_view text = **shadow;
    const std::string key = name + ":";
    bool locked = false;
    for (std::size_t at = 0; at < text.size();) {
      const auto end = std::min(text.find('\n', at), text.size());
      const auto line = text.substr(at, end - at);
      if (line.starts_with(key)) {
        locked = line.size() > key.size() && line[key.size()] == '!';
        break;
      }
      at = end + 1;
    }
    ::explicit_bzero((*shadow)->data(), (*shadow)->size());
    if (locked) return {};
  }
  return run_shadow_tool(root, {"usermod", "--lock"}, name);
}

core::Status expire_password(const core::Root& root, const std::string& name) {
  return run_shadow_tool(root, {"chage", "--lastday", "0"}, name);
}

}  // namespace guestkit::plugins::provision
