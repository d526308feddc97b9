// The `provision` steps the platform seeds brought to the order (agent/PROTOCOL.md),
// each skipped when its part of the order is absent:
//
//   35-create-users     each of `users`, like 30-create-admin-user does the admin,
//                       plus shell, comment, a locked or expired password
//   50-set-ssh-pwauth   PasswordAuthentication yes|no for sshd: a drop-in that sorts
//                       first (40-guestkit-pwauth.conf) when sshd_config includes
//                       sshd_config.d/*.conf, else sshd_config's global section
//   60-set-timezone     /etc/localtime and /etc/timezone, as 07-set-timezone does
//   70-queue-postboot   the order's scripts into /var/lib/guestkit/postboot/ (0700,
//                       root), where 10-run-postboot runs each once; a name already
//                       queued or run (postboot/done/) is left alone

#include <sys/stat.h>
#include <unistd.h>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/boot/config_ssh.hpp"
#include "plugins/provision/order.hpp"
#include "plugins/provision/user_details.hpp"

namespace guestkit::plugins::provision {
namespace {

core::WriteOptions root_file(const core::Root& root, mode_t mode) {
  core::WriteOptions wo;
  wo.mode = mode;
  wo.follow = core::Follow::never;
  // Under a test or image root we may not be root; ownership is then the caller's.
  if (root.is_host() || ::geteuid() == 0) wo.owner = wo.group = 0;
  return wo;
}

}  // namespace

core::Result<Outcome> create_users(PluginContext& p) {
  if (!p.order || p.order->users.empty()) return Outcome::skipped;
  const core::Root& root = p.ctx.root;
  bool changed = false;
  for (const auto& user : p.order->users) {
    if (p.ctx.dry_run) {
      p.ctx.would("create or update the user " + user.name);
      changed = true;
      continue;
    }
    std::vector<std::string> groups = user.groups;
    if (user.sudo != provision::Sudo::none && !p.order->admin_group.empty())
      groups.push_back(p.order->admin_group);
    auto created = provision::ensure_user(root, user.name, groups);
    if (!created) return std::move(created).error();
    changed = changed || *created || !groups.empty();
    for (const auto& group : user.leave_groups) {
      if (auto ok = provision::leave_group(root, user.name, group); !ok)
        return std::move(ok).error();
      changed = true;
    }
    auto details = provision::set_user_details(root, user.name, user.shell, user.gecos);
    if (!details) return std::move(details).error();
    changed = changed || *details;
    if (user.password_hash) {
      // Locked: the hash is kept behind a '!', as `usermod --lock` leaves it.
      const core::Secret hash(user.lock_password ? "!" + user.password_hash->reveal()
                                                 : user.password_hash->reveal());
      if (auto ok = provision::set_password_hash(root, user.name, hash); !ok)
        return std::move(ok).error();
      changed = true;
    } else if (user.lock_password) {
      if (auto ok = provision::lock_password(root, user.name); !ok) return std::move(ok).error();
    }
    if (user.expire_password && user.password_hash && !user.lock_password) {
      if (auto ok = provision::expire_password(root, user.name); !ok) return std::move(ok).error();
      changed = true;
    }
    auto sudoers = provision::write_sudoers(root, user.name, user.sudo);
    if (!sudoers) return std::move(sudoers).error();
    changed = changed || *sudoers;
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

core::Result<Outcome> set_ssh_pwauth(PluginContext& p) {
  if (!p.order || !p.order->ssh_pwauth) return Outcome::skipped;
  const core::Root& root = p.ctx.root;
  const std::string value = *p.order->ssh_pwauth ? "yes" : "no";
  auto main =
      core::read_file_if_exists(root, core::paths::kSshdConfig, 1 << 20, core::Follow::never);
  if (!main) return std::move(main).error();
  if (!*main) {  // no sshd here: nothing to allow or forbid (cloud-init only warns too)
    core::log_notice("50-set-ssh-pwauth: no ", root.display(core::paths::kSshdConfig),
                     ", ssh_pwauth ignored");
    return Outcome::skipped;
  }
  const auto lines = core::split_lines(**main);
  if (boot::includes_dropin_dir(lines)) {
    const std::string text =
        "# Written by guestkit (provision 50-set-ssh-pwauth) from the platform's order.\n"
        "PasswordAuthentication " +
        value + "\n";
    if (p.ctx.dry_run) {
      p.ctx.would("write " + root.display(core::paths::kSshdPwauthDropin));
      return Outcome::changed;
    }
    auto st = root.lstat(core::paths::kSshdConfigDir);
    if (!st) return std::move(st).error();
    if (*st && !S_ISDIR((*st)->st_mode))
      return core::make_error(core::Errc::unsafe, root.display(core::paths::kSshdConfigDir) +
                                                      " is not a directory (or is a symlink)");
    if (!*st)
      if (auto d = root.mkdirs(core::paths::kSshdConfigDir, 0755, core::Follow::never); !d)
        return std::move(d).error();
    auto wrote = core::write_file_if_changed(root, core::paths::kSshdPwauthDropin, text,
                                             root_file(root, 0644));
    if (!wrote) return std::move(wrote).error();
    return *wrote ? Outcome::changed : Outcome::unchanged;
  }
  auto edited = lines;
  boot::harden_sshd_config(edited, {{"PasswordAuthentication", value}});
  if (edited == lines) return Outcome::unchanged;
  if (p.ctx.dry_run) {
    p.ctx.would("set PasswordAuthentication " + value + " in " +
                root.display(core::paths::kSshdConfig));
    return Outcome::changed;
  }
  core::WriteOptions wo;
  wo.follow = core::Follow::never;
  auto w = core::edit_lines(
      root, core::paths::kSshdConfig,
      [&](std::vector<std::string>& l) {
        boot::harden_sshd_config(l, {{"PasswordAuthentication", value}});
      },
      wo);
  if (!w) return std::move(w).error();
  return Outcome::changed;
}

core::Result<Outcome> set_order_timezone(PluginContext& p) {
  if (!p.order || !p.order->timezone) return Outcome::skipped;
  return boot::set_zone(p, *p.order->timezone);
}

core::Result<Outcome> queue_postboot(PluginContext& p) {
  if (!p.order || p.order->postboot.empty()) return Outcome::skipped;
  const core::Root& root = p.ctx.root;
  bool changed = false;
  for (const auto& script : p.order->postboot) {
    const std::string path = std::string(core::paths::kPostbootDir) + "/" + script.name;
    const std::string done = std::string(core::paths::kPostbootDoneDir) + "/" + script.name;
    auto queued = root.lstat(path);
    if (!queued) return std::move(queued).error();
    auto ran = root.lstat(done);
    if (!ran) return std::move(ran).error();
    if (*queued || *ran) continue;  // once: a script is never queued twice
    if (p.ctx.dry_run) {
      p.ctx.would("queue the first-boot script " + root.display(path));
      changed = true;
      continue;
    }
    auto dir = root.mkdirs(core::paths::kPostbootDir, 0700, core::Follow::never);
    if (!dir) return std::move(dir).error();
    auto wo = root_file(root, 0700);
    if (auto w = core::write_file_atomic(root, path, script.script, wo); !w)
      return std::move(w).error();
    changed = true;
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::provision
