#include "plugins/provision/order.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/config.hpp"
#include "core/paths.hpp"
#include "plugins/plugin.hpp"
#include "plugins/provision/password.hpp"
#include "plugins/provision/validate.hpp"

namespace guestkit::plugins::provision {
namespace {

using nlohmann::json;

core::Error bad(const std::string& field, const std::string& message) {
  return core::make_error(core::Errc::bad_input, field + ": " + message);
}

core::Status only_keys(const json& object, const std::string& field,
                       std::initializer_list<std::string_view> keys) {
  if (!object.is_object()) return bad(field, "must be an object");
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto k : keys) known = known || key == k;
    if (!known) return bad(field.empty() ? key : field + "." + key.substr(0, 64), "unknown field");
  }
  return {};
}

core::Result<std::string> get_string(const json& object, const std::string& key,
                                     const std::string& field) {
  const auto& v = object.at(key);
  if (!v.is_string()) return bad(field, "must be a string");
  return v.get<std::string>();
}

std::string join(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "." + b;
}

core::Result<Credentials> parse_credentials(const json& object, const std::string& field,
                                            bool password_required) {
  Credentials c;
  if (object.contains("password") && object.contains("password_hash"))
    return bad(field, "give password or password_hash, not both");
  if (object.contains("password")) {
    const auto& v = object.at("password");
    if (!v.is_string()) return bad(join(field, "password"), "must be a string");
    core::Secret secret(v.get<std::string>());
    if (auto problem = check_password(secret.reveal()); !problem.empty())
      return bad(join(field, "password"), problem);
    c.password = std::move(secret);
  } else if (object.contains("password_hash")) {
    const auto& v = object.at("password_hash");
    if (!v.is_string()) return bad(join(field, "password_hash"), "must be a string");
    core::Secret secret(v.get<std::string>());
    if (auto problem = check_password_hash(secret.reveal()); !problem.empty())
      return bad(join(field, "password_hash"), problem);
    c.password_hash = std::move(secret);
  } else if (password_required) {
    return bad(field, "needs password or password_hash");
  }
  if (object.contains("ssh_keys")) {
    auto keys = parse_key_list(object.at("ssh_keys"), join(field, "ssh_keys"));
    if (!keys) return std::move(keys).error();
    c.ssh_keys = std::move(keys).value();
  }
  if (object.contains("expire_password")) {  // only_keys lets it through for root and users
    if (!object.at("expire_password").is_boolean())
      return bad(join(field, "expire_password"), "must be true or false");
    c.expire_password = object.at("expire_password").get<bool>();
  }
  return c;
}

// name, sudo, groups and credentials: what `admin` and each of `users` share.
core::Status parse_account(const json& a, const std::string& field, AdminOrder& out) {
  if (!a.contains("name")) return bad(field + ".name", "missing");
  auto name = get_string(a, "name", field + ".name");
  if (!name) return std::move(name).error();
  if (auto problem = check_user_name(*name); !problem.empty()) return bad(field + ".name", problem);
  out.name = *name;
  if (a.contains("sudo")) {
    auto sudo = get_string(a, "sudo", field + ".sudo");
    if (!sudo) return std::move(sudo).error();
    if (*sudo == "none")
      out.sudo = Sudo::none;
    else if (*sudo == "password")
      out.sudo = Sudo::password;
    else if (*sudo == "nopasswd")
      out.sudo = Sudo::nopasswd;
    else
      return bad(field + ".sudo", "must be none, password or nopasswd");
  }
  if (a.contains("groups")) {
    const auto& groups = a.at("groups");
    if (!groups.is_array() || groups.size() > 32)
      return bad(field + ".groups", "must be a list of group names");
    for (const auto& g : groups) {
      if (!g.is_string()) return bad(field + ".groups", "must be a list of group names");
      if (auto problem = check_group_name(g.get<std::string>()); !problem.empty())
        return bad(field + ".groups", problem);
      out.groups.push_back(g.get<std::string>());
    }
  }
  auto c = parse_credentials(a, field, false);
  if (!c) return std::move(c).error();
  static_cast<Credentials&>(out) = std::move(c).value();
  return {};
}

core::Result<UserOrder> parse_user(const json& u, const std::string& field) {
  if (auto ok = only_keys(u, field,
                          {"name", "password", "password_hash", "ssh_keys", "groups", "sudo",
                           "shell", "gecos", "lock_password", "expire_password"});
      !ok)
    return std::move(ok).error();
  UserOrder user;
  if (auto ok = parse_account(u, field, user); !ok) return std::move(ok).error();
  if (u.contains("shell")) {
    auto shell = get_string(u, "shell", field + ".shell");
    if (!shell) return std::move(shell).error();
    auto normal = core::Root::normalize(*shell);
    if (!shell->starts_with('/') || !normal || *normal != *shell || shell->size() > 256)
      return bad(field + ".shell",
                 "must be an absolute path like " + std::string(core::paths::kBinBash));
    user.shell = *shell;
  }
  if (u.contains("gecos")) {
    auto gecos = get_string(u, "gecos", field + ".gecos");
    if (!gecos) return std::move(gecos).error();
    // A passwd field: no ':' (the separator), no line breaks or other control bytes.
    if (gecos->size() > 256) return bad(field + ".gecos", "longer than 256 bytes");
    for (unsigned char c : *gecos)
      if (c == ':' || c < 0x20 || c == 0x7f)
        return bad(field + ".gecos", "must not hold ':' or control characters");
    user.gecos = *gecos;
  }
  if (u.contains("lock_password")) {
    if (!u.at("lock_password").is_boolean())
      return bad(field + ".lock_password", "must be true or false");
    user.lock_password = u.at("lock_password").get<bool>();
  }
  return user;
}

constexpr std::size_t kMaxPostboot = 64;
constexpr std::size_t kMaxPostbootBytes = 1u << 20;  // all scripts together

core::Result<std::vector<PostbootScript>> parse_postboot(const json& list) {
  if (!list.is_array() || list.size() > kMaxPostboot)
    return bad("postboot", "must be a list of at most 64 {name, script} objects");
  std::vector<PostbootScript> out;
  std::size_t total = 0;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string field = "postboot[" + std::to_string(i) + "]";
    if (auto ok = only_keys(list[i], field, {"name", "script"}); !ok) return std::move(ok).error();
    if (!list[i].contains("name") || !list[i].contains("script"))
      return bad(field, "needs name and script");
    auto name = get_string(list[i], "name", field + ".name");
    if (!name) return std::move(name).error();
    if (name->size() > 64 || !valid_plugin_name(*name))
      return bad(field + ".name", "must look like 50-name ([A-Za-z0-9][A-Za-z0-9_-]*)");
    for (const auto& earlier : out)
      if (earlier.name == *name) return bad(field + ".name", "'" + *name + "' given twice");
    auto script = get_string(list[i], "script", field + ".script");
    if (!script) return std::move(script).error();
    if (!script->starts_with("#!"))
      return bad(field + ".script", "must start with #! (an interpreter line)");
    if (script->find('\0') != std::string::npos) return bad(field + ".script", "holds a NUL byte");
    total += script->size();
    if (total > kMaxPostbootBytes) return bad(field + ".script", "the scripts exceed 1 MiB");
    out.push_back({*name, *script});
  }
  return out;
}

core::Status hash_in_place(Credentials& c) {
  if (!c.password) return {};
  auto hashed = hash_password(*c.password);
  if (!hashed) return std::move(hashed).error();
  c.password_hash = std::move(hashed).value();
  c.password.reset();  // Secret wipes itself
  return {};
}

}  // namespace

core::Result<std::vector<SshKey>> parse_key_list(const json& value, const std::string& field) {
  if (!value.is_array()) return bad(field, "must be a list of key lines");
  if (value.size() > 256) return bad(field, "more than 256 keys");
  std::vector<SshKey> keys;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string item = field + "[" + std::to_string(i) + "]";
    if (!value[i].is_string()) return bad(item, "must be a string");
    auto key = parse_ssh_key(value[i].get<std::string>());
    if (!key) return bad(item, key.error().context);
    keys.push_back(std::move(key).value());
  }
  return keys;
}

core::Result<core::Secret> parse_password_fields(const json& object, const std::string& field) {
  auto c = parse_credentials(object, field, true);
  if (!c) return std::move(c).error();
  if (auto ok = hash_in_place(*c); !ok) return std::move(ok).error();
  return std::move(*c->password_hash);
}

core::Result<Order> parse_order(const json& args) {
  if (auto ok = only_keys(args, "",
                          {"instance_id", "hostname", "root", "admin", "users", "ssh_pwauth",
                           "timezone", "postboot", "force"});
      !ok)
    return std::move(ok).error();
  Order order;
  if (!args.contains("instance_id")) return bad("instance_id", "missing");
  auto id = get_string(args, "instance_id", "instance_id");
  if (!id) return std::move(id).error();
  if (auto problem = check_instance_id(*id); !problem.empty()) return bad("instance_id", problem);
  order.instance_id = *id;
  if (args.contains("force")) {
    if (!args.at("force").is_boolean()) return bad("force", "must be true or false");
    order.force = args.at("force").get<bool>();
  }
  if (args.contains("hostname")) {
    auto name = get_string(args, "hostname", "hostname");
    if (!name) return std::move(name).error();
    if (auto problem = check_hostname(*name); !problem.empty()) return bad("hostname", problem);
    std::string lower = *name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    order.hostname = lower;
  }
  if (args.contains("root")) {
    const auto& r = args.at("root");
    if (auto ok =
            only_keys(r, "root", {"password", "password_hash", "ssh_keys", "expire_password"});
        !ok)
      return std::move(ok).error();
    auto c = parse_credentials(r, "root", false);
    if (!c) return std::move(c).error();
    order.root = std::move(c).value();
  }
  if (args.contains("admin")) {
    const auto& a = args.at("admin");
    if (auto ok = only_keys(a, "admin",
                            {"name", "password", "password_hash", "ssh_keys", "groups", "sudo"});
        !ok)
      return std::move(ok).error();
    AdminOrder admin;
    if (auto ok = parse_account(a, "admin", admin); !ok) return std::move(ok).error();
    if (admin.sudo == Sudo::password && !admin.password && !admin.password_hash)
      return bad("admin.sudo", "'password' needs admin.password or admin.password_hash");
    order.admin = std::move(admin);
  }
  if (args.contains("users")) {
    const auto& users = args.at("users");
    if (!users.is_array() || users.size() > 64)
      return bad("users", "must be a list of at most 64 user objects");
    for (std::size_t i = 0; i < users.size(); ++i) {
      const std::string field = "users[" + std::to_string(i) + "]";
      auto user = parse_user(users[i], field);
      if (!user) return std::move(user).error();
      const bool twice = (order.admin && order.admin->name == user->name) ||
                         std::any_of(order.users.begin(), order.users.end(),
                                     [&](const UserOrder& u) { return u.name == user->name; });
      if (twice) return bad(field + ".name", "'" + user->name + "' is given twice");
      if (user->name == "root")
        return bad(field + ".name", "root is set through \"root\", not \"users\"");
      order.users.push_back(std::move(user).value());
    }
  }
  if (args.contains("ssh_pwauth")) {
    if (!args.at("ssh_pwauth").is_boolean()) return bad("ssh_pwauth", "must be true or false");
    order.ssh_pwauth = args.at("ssh_pwauth").get<bool>();
  }
  if (args.contains("timezone")) {
    auto zone = get_string(args, "timezone", "timezone");
    if (!zone) return std::move(zone).error();
    if (!core::valid_zone_name(*zone))
      return bad("timezone", "not a time zone name (like Europe/Paris or UTC)");
    order.timezone = *zone;
  }
  if (args.contains("postboot")) {
    auto scripts = parse_postboot(args.at("postboot"));
    if (!scripts) return std::move(scripts).error();
    order.postboot = std::move(scripts).value();
  }
  if (!order.hostname && !order.root && !order.admin && order.users.empty() && !order.ssh_pwauth &&
      !order.timezone && order.postboot.empty())
    return bad("provision",
               "the order asks for nothing (no hostname, root, admin, users, ssh_pwauth, "
               "timezone or postboot)");
  return order;
}

core::Result<Account> target_account(const core::Root& root, const std::string& name) {
  if (auto problem = check_user_name(name); !problem.empty()) return bad("user", problem);
  auto account = find_account(root, name);
  if (!account) return std::move(account).error();
  if (!*account) return bad("user", "no user '" + name + "' in the image");
  if (name != "root" && is_system_account(**account))
    return bad("user", "'" + name + "' is a system account");
  return **account;
}

namespace {

// The image checks `admin` and each of `users` share: not a system account, no group
// of that name for a new user, groups that exist, the sudo group, no planted symlink
// under the home's .ssh. `leave_groups` gets, with sudo none, the sudo/wheel groups
// an existing user is to leave.
core::Status prepare_account(const core::Root& root, const AdminOrder& user,
                             const std::string& field, std::string& admin_group_out,
                             std::vector<std::string>& leave_groups) {
  auto account = find_account(root, user.name);
  if (!account) return std::move(account).error();
  if (*account && is_system_account(**account))
    return bad(field + ".name", "'" + user.name + "' is a system account");
  if (!*account) {
    auto group = find_group(root, user.name);
    if (!group) return std::move(group).error();
    if (*group) return bad(field + ".name", "a group '" + user.name + "' already exists");
  }
  for (const auto& g : user.groups) {
    auto gid = find_group(root, g);
    if (!gid) return std::move(gid).error();
    if (!*gid) return bad(field + ".groups", "no group '" + g + "' in the image");
    if (**gid == 0) return bad(field + ".groups", "group '" + g + "' is the root group");
  }
  if (user.sudo != Sudo::none) {
    auto group = admin_group(root);
    if (!group) return bad(field + ".sudo", group.error().context);
    admin_group_out = *group;
  } else {
    // sudo: none means no sudo rights: not through a listed group either, and an
    // existing user leaves the groups that give them.
    for (const auto& g : user.groups)
      for (const char* privileged : kAdminGroups)
        if (g == privileged)
          return bad(field + ".groups", "'" + g + "' gives sudo rights, which " + field +
                                            ".sudo: none takes away (say password or nopasswd)");
    if (*account) {
      auto groups = admin_groups_of(root, user.name);
      if (!groups) return std::move(groups).error();
      leave_groups = std::move(*groups);
    }
  }
  // A home left from before (or planted) is checked too: useradd -m keeps it.
  const std::string home =
      *account ? (*account)->home : std::string(core::paths::kHomeDir) + "/" + user.name;
  if (auto ok = check_ssh_paths(root, {home, 0, 0}); !ok) return bad(field, ok.error().message());
  return {};
}

}  // namespace

core::Status prepare_order(const core::Root& root, Order& order) {
  if (order.root && !order.root->ssh_keys.empty()) {
    auto account = target_account(root, "root");
    if (!account) return std::move(account).error();
    if (auto ok = check_ssh_paths(root, {account->home, account->uid, account->gid}); !ok)
      return bad("root.ssh_keys", ok.error().message());
  }
  if (order.admin)
    if (auto ok =
            prepare_account(root, *order.admin, "admin", order.admin_group, order.leave_groups);
        !ok)
      return ok;
  for (std::size_t i = 0; i < order.users.size(); ++i) {
    auto& user = order.users[i];
    if (auto ok = prepare_account(root, user, "users[" + std::to_string(i) + "]", order.admin_group,
                                  user.leave_groups);
        !ok)
      return ok;
    if (user.shell) {
      auto st = root.stat(*user.shell, core::Follow::in_root);
      if (!st || !*st || !S_ISREG((*st)->st_mode))
        return bad("users[" + std::to_string(i) + "].shell",
                   "no program " + *user.shell + " in the image");
    }
  }
  // A zone the image lacks would fail in 60-set-timezone after the other steps had
  // changed the system (seen in the e2e guest, which has no tzdata): refused here.
  if (order.timezone) {
    const std::string file = std::string(core::paths::kZoneinfoDir) + "/" + *order.timezone;
    auto st = root.stat(file, core::Follow::in_root);
    if (!st || !*st || !S_ISREG((*st)->st_mode))
      return bad("timezone", "no time zone '" + *order.timezone + "' in the image (no " +
                                 root.display(file) + ")");
  }
  // Each yescrypt hash costs tens of milliseconds of CPU: they run side by side.
  std::vector<Credentials*> todo;
  if (order.root && order.root->password) todo.push_back(&*order.root);
  if (order.admin && order.admin->password) todo.push_back(&*order.admin);
  for (auto& user : order.users)
    if (user.password) todo.push_back(&user);
  std::vector<std::future<core::Status>> hashed;
  for (std::size_t i = 1; i < todo.size(); ++i)
    hashed.push_back(std::async(std::launch::async, [c = todo[i]] { return hash_in_place(*c); }));
  core::Status first = todo.empty() ? core::Status{} : hash_in_place(*todo.front());
  for (auto& h : hashed)
    if (auto ok = h.get(); !ok && first) first = std::move(ok);
  return first;
}

}  // namespace guestkit::plugins::provision
