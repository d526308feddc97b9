// The `provision` trigger: guestkit-agent runs these for a platform's order, in name
// order, then external plugins of plugins.d/provision/. Each one reads its part of
// the validated order (PluginContext::order) and is skipped when that part is absent.
// The agent's single ops run the step that does their part the same way, under their
// own trigger (so plugins.enabled, masks, external plugins and run records apply):
// set-hostname -> 10-set-hostname; set-password -> 20-set-root-password for root,
// 30-create-admin-user (the password only) for another user; ssh-keys ->
// 40-install-ssh-keys (adds and removes).

#include "plugins/provision/order.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {
namespace {

// Critical: a later step may depend on an earlier one (keys need the admin user),
// and the platform must hear that the order did not fully apply.
constexpr BuiltinPlugin kTable[] = {
    {"10-set-hostname", "provision set-hostname", "", true,
     "hostname: /etc/hostname, the 127.0.1.1 line of /etc/hosts, the live name on /",
     &provision::set_hostname},
    {"20-set-root-password", "provision set-password", "", true,
     "root's password (chpasswd -e, hash on stdin)", &provision::set_root_password},
    {"30-create-admin-user", "provision set-password", "", true,
     "the admin user: useradd/usermod, password, sudo group and sudoers drop-in",
     &provision::create_admin_user},
    {"35-create-users", "provision", "", true,
     "the order's users: like the admin user, plus shell, comment, locked or expired password",
     &provision::create_users},
    {"40-install-ssh-keys", "provision ssh-keys", "", true,
     "SSH keys of root, the admin user and the users, merged into ~/.ssh/authorized_keys",
     &provision::install_ssh_keys},
    {"50-set-ssh-pwauth", "provision", "", true,
     "sshd PasswordAuthentication from the order's ssh_pwauth", &provision::set_ssh_pwauth},
    {"60-set-timezone", "provision", "", true,
     "the order's time zone: /etc/localtime, /etc/timezone", &provision::set_order_timezone},
    {"70-queue-postboot", "provision", "", true,
     "the order's first-boot scripts into /var/lib/guestkit/postboot/ (run by 10-run-postboot)",
     &provision::queue_postboot},
};

}  // namespace

std::span<const BuiltinPlugin> provision_plugins() {
  return kTable;
}

}  // namespace guestkit::plugins
