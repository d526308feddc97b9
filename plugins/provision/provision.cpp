// The built-in `provision` plugins (guestkit-agent's order), one step each, reading
// the order the agent validated and prepared (plaintext passwords already hashed):
//
//   10-set-hostname        /etc/hostname, the 127.0.1.1 line of /etc/hosts, and the
//                          live hostname when the root is "/"
//   20-set-root-password   chpasswd -e for root
//   30-create-admin-user   useradd/usermod, chpasswd -e, the sudoers drop-in (with
//                          sudo: none, the drop-in goes and gpasswd -d takes the
//                          user out of sudo/wheel)
//   40-install-ssh-keys    root's, the admin's and `users`' authorized_keys, merged
//   (35-create-users, 50-set-ssh-pwauth, 60-set-timezone, 70-queue-postboot:
//   provision_users.cpp)
//
// A step whose part of the order is absent is skipped. The agent's single ops run
// these steps under their own triggers (registry_provision.cpp): set-hostname,
// set-password (20 for root, 30 for another user: only the password), ssh-keys (40,
// with the keys to remove too).

#include <unistd.h>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/provision/order.hpp"
#include "plugins/provision/user_details.hpp"

namespace guestkit::plugins::provision {
namespace {

using provision::Order;

core::WriteOptions system_file(const core::Root& root, mode_t mode) {
  core::WriteOptions wo;
  wo.mode = mode;
  // Under a test or image root we may not be root; ownership is then the caller's.
  if (root.is_host() || ::geteuid() == 0) wo.owner = wo.group = 0;
  return wo;
}

// "127.0.1.1\tweb1.example.com web1" (Debian's convention for a host without a
// static address), or "127.0.1.1\tweb1".
std::string hosts_line(const std::string& name) {
  const auto dot = name.find('.');
  return "127.0.1.1\t" + name + (dot == std::string::npos ? "" : " " + name.substr(0, dot));
}

}  // namespace

core::Result<Outcome> set_hostname(PluginContext& p) {
  if (!p.order || !p.order->hostname) return Outcome::skipped;
  const std::string& name = *p.order->hostname;
  const core::Root& root = p.ctx.root;
  if (p.ctx.dry_run) {
    p.ctx.would("set the hostname to " + name);
    return Outcome::changed;
  }
  auto wrote = core::write_file_if_changed(root, core::paths::kHostname, name + "\n",
                                           system_file(root, 0644));
  if (!wrote) return std::move(wrote).error();
  bool changed = *wrote;
  auto edited = core::edit_lines(
      root, core::paths::kHosts,
      [&](std::vector<std::string>& lines) {
        bool done = false;
        for (auto it = lines.begin(); it != lines.end();) {
          const bool ours = it->starts_with("127.0.1.1") && it->size() > 9 && (*it)[9] <= ' ';
          if (!ours) {
            ++it;
            continue;
          }
          if (done) {
            it = lines.erase(it);
            continue;
          }
          *it = hosts_line(name);
          done = true;
          ++it;
        }
        if (!done) lines.push_back(hosts_line(name));
      },
      system_file(root, 0644));
  if (!edited) return std::move(edited).error();
  changed = changed || *edited;
  if (root.is_host()) {
    char live[256] = {};
    if (::gethostname(live, sizeof live - 1) != 0 || name != live) {
      if (::sethostname(name.data(), name.size()) != 0) return core::errno_error("sethostname");
      changed = true;
    }
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

core::Result<Outcome> set_root_password(PluginContext& p) {
  if (!p.order || !p.order->root || !p.order->root->password_hash) return Outcome::skipped;
  if (p.ctx.dry_run) {
    p.ctx.would("set root's password");
    return Outcome::changed;
  }
  if (auto ok = provision::set_password_hash(p.ctx.root, "root", *p.order->root->password_hash);
      !ok)
    return std::move(ok).error();
  if (p.order->root->expire_password)
    if (auto ok = provision::expire_password(p.ctx.root, "root"); !ok) return std::move(ok).error();
  return Outcome::changed;
}

core::Result<Outcome> create_admin_user(PluginContext& p) {
  if (!p.order || !p.order->admin) return Outcome::skipped;
  const auto& admin = *p.order->admin;
  if (p.trigger == "set-password") {  // an existing user's password, nothing else
    if (!admin.password_hash) return Outcome::skipped;
    if (p.ctx.dry_run) {
      p.ctx.would("set the password of " + admin.name);
      return Outcome::changed;
    }
    if (auto ok = provision::set_password_hash(p.ctx.root, admin.name, *admin.password_hash); !ok)
      return std::move(ok).error();
    return Outcome::changed;
  }
  if (p.ctx.dry_run) {
    p.ctx.would("create or update the user " + admin.name);
    return Outcome::changed;
  }
  std::vector<std::string> groups = admin.groups;
  if (admin.sudo != provision::Sudo::none && !p.order->admin_group.empty())
    groups.push_back(p.order->admin_group);
  auto created = provision::ensure_user(p.ctx.root, admin.name, groups);
  if (!created) return std::move(created).error();
  bool changed = *created || !groups.empty();
  for (const auto& group : p.order->leave_groups) {  // sudo: none for an existing user
    if (auto ok = provision::leave_group(p.ctx.root, admin.name, group); !ok)
      return std::move(ok).error();
    changed = true;
  }
  if (admin.password_hash) {
    if (auto ok = provision::set_password_hash(p.ctx.root, admin.name, *admin.password_hash); !ok)
      return std::move(ok).error();
    changed = true;
  }
  auto sudoers = provision::write_sudoers(p.ctx.root, admin.name, admin.sudo);
  if (!sudoers) return std::move(sudoers).error();
  return changed || *sudoers ? Outcome::changed : Outcome::unchanged;
}

core::Result<Outcome> install_ssh_keys(PluginContext& p) {
  if (!p.order) return Outcome::skipped;
  std::vector<std::pair<std::string, const provision::Credentials*>> todo;
  const auto wanted = [](const provision::Credentials& c) {
    return !c.ssh_keys.empty() || !c.remove_ssh_keys.empty();
  };
  if (p.order->root && wanted(*p.order->root)) todo.emplace_back("root", &*p.order->root);
  if (p.order->admin && wanted(*p.order->admin))
    todo.emplace_back(p.order->admin->name, &*p.order->admin);
  for (const auto& user : p.order->users)
    if (wanted(user)) todo.emplace_back(user.name, &user);
  if (todo.empty()) return Outcome::skipped;
  bool changed = false;
  for (const auto& [user, keys] : todo) {
    if (p.ctx.dry_run) {
      p.ctx.would("install " + std::to_string(keys->ssh_keys.size()) + " SSH keys for " + user +
                  (keys->remove_ssh_keys.empty()
                       ? ""
                       : " and remove " + std::to_string(keys->remove_ssh_keys.size())));
      changed = true;
      continue;
    }
    auto account = provision::target_account(p.ctx.root, user);
    if (!account) return std::move(account).error();
    auto wrote =
        provision::update_authorized_keys(p.ctx.root, {account->home, account->uid, account->gid},
                                          keys->ssh_keys, keys->remove_ssh_keys);
    if (!wrote) return std::move(wrote).error();
    changed = changed || *wrote;
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::provision
