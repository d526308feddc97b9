#include "plugins/provision/order.hpp"

#include <future>
#include <nlohmann/json.hpp>
#include <optional>

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
  return c;
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
  if (auto ok = only_keys(args, "", {"instance_id", "hostname", "root", "admin", "force"}); !ok)
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
    if (auto ok = only_keys(r, "root", {"password", "password_hash", "ssh_keys"}); !ok)
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
    if (!a.contains("name")) return bad("admin.name", "missing");
    auto name = get_string(a, "name", "admin.name");
    if (!name) return std::move(name).error();
    if (auto problem = check_user_name(*name); !problem.empty()) return bad("admin.name", problem);
    admin.name = *name;
    if (a.contains("sudo")) {
      auto sudo = get_string(a, "sudo", "admin.sudo");
      if (!sudo) return std::move(sudo).error();
      if (*sudo == "none")
        admin.sudo = Sudo::none;
      else if (*sudo == "password")
        admin.sudo = Sudo::password;
      else if (*sudo == "nopasswd")
        admin.sudo = Sudo::nopasswd;
      else
        return bad("admin.sudo", "must be none, password or nopasswd");
    }
    if (a.contains("groups")) {
      const auto& groups = a.at("groups");
      if (!groups.is_array() || groups.size() > 32)
        return bad("admin.groups", "must be a list of group names");
      for (const auto& g : groups) {
        if (!g.is_string()) return bad("admin.groups", "must be a list of group names");
        if (auto problem = check_group_name(g.get<std::string>()); !problem.empty())
          return bad("admin.groups", problem);
        admin.groups.push_back(g.get<std::string>());
      }
    }
    auto c = parse_credentials(a, "admin", false);
    if (!c) return std::move(c).error();
    static_cast<Credentials&>(admin) = std::move(c).value();
    if (admin.sudo == Sudo::password && !admin.password && !admin.password_hash)
      return bad("admin.sudo", "'password' needs admin.password or admin.password_hash");
    order.admin = std::move(admin);
  }
  if (!order.hostname && !order.root && !order.admin)
    return bad("provision", "the order asks for nothing (no hostname, root or admin)");
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

core::Status prepare_order(const core::Root& root, Order& order) {
  if (order.root && !order.root->ssh_keys.empty()) {
    auto account = target_account(root, "root");
    if (!account) return std::move(account).error();
    if (auto ok = check_ssh_paths(root, {account->home, account->uid, account->gid}); !ok)
      return bad("root.ssh_keys", ok.error().message());
  }
  if (order.admin) {
    auto& admin = *order.admin;
    auto account = find_account(root, admin.name);
    if (!account) return std::move(account).error();
    if (*account && is_system_account(**account))
      return bad("admin.name", "'" + admin.name + "' is a system account");
    if (!*account) {
      auto group = find_group(root, admin.name);
      if (!group) return std::move(group).error();
      if (*group) return bad("admin.name", "a group '" + admin.name + "' already exists");
    }
    for (const auto& g : admin.groups) {
      auto gid = find_group(root, g);
      if (!gid) return std::move(gid).error();
      if (!*gid) return bad("admin.groups", "no group '" + g + "' in the image");
      if (**gid == 0) return bad("admin.groups", "group '" + g + "' is the root group");
    }
    if (admin.sudo != Sudo::none) {
      auto group = admin_group(root);
      if (!group) return bad("admin.sudo", group.error().context);
      order.admin_group = *group;
    } else {
      // sudo: none means no sudo rights: not through a listed group either, and an
      // existing user leaves the groups that give them.
      for (const auto& g : admin.groups)
        for (const char* privileged : kAdminGroups)
          if (g == privileged)
            return bad("admin.groups", "'" + g +
                                           "' gives sudo rights, which admin.sudo: none "
                                           "takes away (say password or nopasswd)");
      if (*account) {
        auto groups = admin_groups_of(root, admin.name);
        if (!groups) return std::move(groups).error();
        order.leave_groups = std::move(*groups);
      }
    }
    // A home left from before (or planted) is checked too: useradd -m keeps it.
    const std::string home = *account ? (*account)->home : "/home/" + admin.name;
    if (auto ok = check_ssh_paths(root, {home, 0, 0}); !ok)
      return bad("admin", ok.error().message());
  }
  // Each yescrypt hash costs tens of milliseconds of CPU: the two run side by side.
  std::optional<std::future<core::Status>> admin_hashed;
  if (order.admin && order.admin->password)
    admin_hashed =
        std::async(std::launch::async, [&admin = *order.admin] { return hash_in_place(admin); });
  core::Status root_hashed = order.root ? hash_in_place(*order.root) : core::Status{};
  if (admin_hashed)
    if (auto ok = admin_hashed->get(); !ok) return std::move(ok).error();
  return root_hashed;
}

}  // namespace guestkit::plugins::provision
