#pragma once
// A provisioning order: parsed and validated as a whole before anything changes.
// parse_order() checks every field's shape (names, hostname, keys, hashes), then
// prepare_order() checks it against the image (system accounts, the sudo/wheel
// group, planted symlinks under the homes) and hashes plaintext passwords, so the
// provision plugins only ever see hashes. Any problem rejects the whole order.

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "core/result.hpp"
#include "core/root.hpp"
#include "plugins/plugin.hpp"
#include "plugins/provision/accounts.hpp"
#include "plugins/provision/authorized_keys.hpp"

namespace guestkit::plugins::provision {

struct Credentials {
  std::optional<core::Secret> password;       // plaintext, until prepare_order hashes it
  std::optional<core::Secret> password_hash;  // crypt(3)
  std::vector<SshKey> ssh_keys;
  std::vector<SshKey> remove_ssh_keys;  // the agent's ssh-keys op: keys to take out
  // Root and `users` only (cloud-config's chpasswd.expire): the password must be
  // changed at the first login (`chage -d 0`).
  bool expire_password = false;
};

struct AdminOrder : Credentials {
  std::string name;
  std::vector<std::string> groups;  // supplementary groups that must exist in the image
  Sudo sudo = Sudo::password;
};

// One of `users`: like `admin`, plus what cloud-config's users entries carry. Its
// sudo defaults to none (cloud-init's default), and sudo password needs no password
// in the order (cloud-init's users may have none: they then cannot use sudo).
struct UserOrder : AdminOrder {
  UserOrder() { sudo = Sudo::none; }
  std::optional<std::string> shell;  // absolute path of a program the image has
  std::optional<std::string> gecos;  // the comment field
  bool lock_password = false;        // no password login: the hash gets a leading '!'
  // Set by prepare_order: with sudo none, the sudo/wheel groups the user is to leave.
  std::vector<std::string> leave_groups;
};

// A first-boot script the postboot stage (10-run-postboot) runs once.
struct PostbootScript {
  std::string name;    // a plugin name: [A-Za-z0-9][A-Za-z0-9_-]*
  std::string script;  // starts with "#!"
};

struct Order {
  std::string instance_id;
  std::optional<std::string> hostname;
  std::optional<Credentials> root;
  std::optional<AdminOrder> admin;
  std::vector<UserOrder> users;
  std::optional<bool> ssh_pwauth;       // sshd PasswordAuthentication yes/no
  std::optional<std::string> timezone;  // tz database name
  std::vector<PostbootScript> postboot;
  bool force = false;
  // Set by prepare_order:
  std::string admin_group;  // "sudo" or "wheel" when admin.sudo is not none
  // With admin.sudo none: the sudo/wheel groups the existing user is to leave.
  std::vector<std::string> leave_groups;
};

// Errc::bad_input naming the field ("admin.name: ...") on the first problem.
core::Result<Order> parse_order(const nlohmann::json& args);
core::Status prepare_order(const core::Root& root, Order& order);

// Pieces the single-purpose agent ops share with the order.
core::Result<std::vector<SshKey>> parse_key_list(const nlohmann::json& value,
                                                 const std::string& field);
// {password | password_hash}: exactly one, validated; plaintext is hashed.
core::Result<core::Secret> parse_password_fields(const nlohmann::json& object,
                                                 const std::string& field);
// The account an op may act on: root, or a regular (non-system) user that exists.
core::Result<Account> target_account(const core::Root& root, const std::string& name);

// The `provision` plugins, steps of an order (registry_provision.cpp).
core::Result<Outcome> set_hostname(PluginContext& p);       // 10-set-hostname (provision.cpp)
core::Result<Outcome> set_root_password(PluginContext& p);  // 20-set-root-password
core::Result<Outcome> create_admin_user(PluginContext& p);  // 30-create-admin-user
core::Result<Outcome> install_ssh_keys(PluginContext& p);   // 40-install-ssh-keys
// The steps seeds brought to the order (provision_users.cpp).
core::Result<Outcome> create_users(PluginContext& p);        // 35-create-users
core::Result<Outcome> set_ssh_pwauth(PluginContext& p);      // 50-set-ssh-pwauth
core::Result<Outcome> set_order_timezone(PluginContext& p);  // 60-set-timezone
core::Result<Outcome> queue_postboot(PluginContext& p);      // 70-queue-postboot

}  // namespace guestkit::plugins::provision
