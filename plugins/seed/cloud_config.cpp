// The #cloud-config subset guestkit applies, with cloud-init's documented meaning
// (cc_set_hostname, cc_users_groups and distros' create_user, cc_set_passwords,
// cc_ssh, cc_timezone, cc_runcmd):
//
//   hostname, fqdn, preserve_hostname   fqdn wins over hostname, which wins over
//       meta-data's local-hostname; the name goes whole to /etc/hostname (guestkit's
//       hostname step; cloud-init would write the short name there)
//   user, users                          `users` absent means [default]; "default"
//       is the default user (NormaliseOptions, or `user:`): sudo without password,
//       password locked, as cloud images make it. Per user: name, groups (list or
//       "a, b"), sudo (false, or one rule: ALL=(ALL) ALL / ALL=(ALL) NOPASSWD:ALL,
//       with or without :ALL in the runas part), lock_passwd (default true: the hash
//       is kept behind '!'), passwd and hashed_passwd (hashes), plain_text_passwd
//       (hashed on the VM), ssh_authorized_keys, shell, gecos. hashed_passwd wins
//       over plain_text_passwd, which wins over passwd, as create_user applies them
//       in the other order. A `users` entry named root sets root's password and keys.
//   chpasswd {users | list, expire}      passwords of root and of the users this
//       seed creates; type text or hash (the list form: a value starting with '$' is
//       a hash); expire (default true) makes each one expire (`chage -d 0`); a
//       password set this way unlocks the account. RANDOM/R is not applied (cloud-init
//       prints such passwords on the console).
//   password                             the default user's password, like chpasswd
//   ssh_authorized_keys                  with meta-data's public keys: the default
//       user's; also root's when disable_root is false. With disable_root true
//       (the default) root gets none: cloud-init would install them behind a command
//       that refuses the login, guestkit leaves root's file alone.
//   ssh_pwauth                           true/false; "unchanged" changes nothing
//   timezone                             the zone name
//   runcmd                               one first-boot script, 60-runcmd
// Every other key, and every other field of a user or of chpasswd, is reported by
// name as not applied.

#include <algorithm>

#include "plugins/seed/normalise.hpp"

namespace guestkit::plugins::seed::detail {
namespace {

using nlohmann::json;

constexpr const char* kUnsupported = "not supported by guestkit";

std::optional<std::string> as_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

// A list of strings, or one string of comma-separated items.
std::optional<std::vector<std::string>> string_list(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    std::string item;
    for (char c : v.get<std::string>() + ",") {
      if (c == ',') {
        const auto b = item.find_first_not_of(" \t");
        if (b != std::string::npos)
          out.push_back(item.substr(b, item.find_last_not_of(" \t") - b + 1));
        item.clear();
      } else {
        item += c;
      }
    }
    return out;
  }
  if (!v.is_array()) return std::nullopt;
  for (const auto& item : v) {
    auto s = as_string(item);
    if (!s) return std::nullopt;
    out.push_back(*s);
  }
  return out;
}

struct Account {
  std::string name;
  std::string where;  // "users[2]", "the default user"
  std::optional<std::string> password;
  std::optional<std::string> password_hash;
  std::vector<std::string> keys;
  std::vector<std::string> groups;
  std::string sudo = "none";
  std::optional<std::string> shell;
  std::optional<std::string> gecos;
  bool lock = true;
  bool expire = false;
};

struct RootAccount {
  std::optional<std::string> password;
  std::optional<std::string> password_hash;
  std::vector<std::string> keys;
  bool expire = false;
  bool used = false;
};

// "ALL=(ALL) NOPASSWD:ALL" -> nopasswd, "ALL=(ALL) ALL" -> password (spaces ignored).
std::optional<std::string> sudo_level(const std::string& rule) {
  std::string r;
  for (char c : rule)
    if (c != ' ' && c != '\t') r += c;
  if (r == "ALL=(ALL)NOPASSWD:ALL" || r == "ALL=(ALL:ALL)NOPASSWD:ALL") return "nopasswd";
  if (r == "ALL=(ALL)ALL" || r == "ALL=(ALL:ALL)ALL") return "password";
  return std::nullopt;
}

class Translator {
 public:
  Translator(const CloudInput& in, Normalised& out) : in_(in), out_(out) {}

  void run() {
    const json& c = in_.config;
    hostname();
    users();
    if (c.contains("chpasswd")) chpasswd(c.at("chpasswd"));
    if (c.contains("password")) password(c.at("password"));
    keys();
    if (c.contains("ssh_pwauth")) ssh_pwauth(c.at("ssh_pwauth"));
    if (c.contains("timezone")) timezone(c.at("timezone"));
    if (c.contains("runcmd")) runcmd(c.at("runcmd"));
    static const char* const kHandled[] = {
        "hostname", "fqdn",     "preserve_hostname",   "user",         "users",
        "chpasswd", "password", "ssh_authorized_keys", "disable_root", "ssh_pwauth",
        "timezone", "runcmd",   "vendor_data"};
    for (const auto& [key, value] : c.items())
      if (std::none_of(std::begin(kHandled), std::end(kHandled),
                       [&](const char* k) { return key == k; }))
        skip(key, key, kUnsupported);
    emit();
  }

 private:
  const CloudInput& in_;
  Normalised& out_;
  std::vector<Account> accounts_;
  std::optional<std::size_t> default_;  // index in accounts_
  RootAccount root_;
  bool expire_ = true;  // chpasswd.expire

  std::string origin(const std::string& top) const {
    auto it = in_.origin.find(top);
    return it == in_.origin.end() ? "user-data" : it->second;
  }
  void applied(const std::string& top) { out_.applied.push_back(origin(top) + ": " + top); }
  void skip(const std::string& top, const std::string& path, const std::string& why) {
    out_.not_applied.push_back({origin(top) + ": " + path, why});
  }
  bool get_bool(const std::string& key, bool fallback) {
    if (!in_.config.contains(key)) return fallback;
    const auto& v = in_.config.at(key);
    if (v.is_boolean()) return v.get<bool>();
    skip(key, key, "must be true or false");
    return fallback;
  }

  void hostname() {
    const json& c = in_.config;
    if (get_bool("preserve_hostname", false)) {
      applied("preserve_hostname");
      for (const char* k : {"hostname", "fqdn"})
        if (c.contains(k)) skip(k, k, "preserve_hostname is true");
      if (in_.meta_hostname)
        out_.not_applied.push_back({"meta-data: local-hostname", "preserve_hostname is true"});
      return;
    }
    std::optional<std::string> name;
    for (const char* k : {"fqdn", "hostname"}) {
      if (!c.contains(k)) continue;
      auto s = as_string(c.at(k));
      if (!s) {
        skip(k, k, "must be a string");
      } else if (name) {
        skip(k, k, "fqdn is used instead");
      } else {
        name = s;
        applied(k);
      }
    }
    if (in_.meta_hostname) {
      if (name)
        out_.not_applied.push_back({"meta-data: local-hostname", "user-data names the host"});
      else
        name = in_.meta_hostname, out_.applied.push_back("meta-data: local-hostname");
    }
    if (name) out_.order["hostname"] = *name;
  }

  Account make_default(const std::string& name) {
    Account a;
    a.name = name;
    a.where = "the default user";
    a.sudo = "nopasswd";
    a.lock = true;
    return a;
  }

  // One `users` entry (or `user:` given as a map) onto `a`.
  void user_fields(const json& entry, Account& a, const std::string& top,
                   const std::string& where) {
    std::optional<std::string> from_passwd, from_plain, from_hashed;
    for (const auto& [key, value] : entry.items()) {
      const std::string path = where + "." + key;
      if (key == "name") continue;
      if (key == "groups") {
        auto groups = string_list(value);
        if (!groups)
          skip(top, path, "must be a list of group names or \"a, b\"");
        else
          a.groups = *groups;
      } else if (key == "sudo") {
        if (value.is_null() || (value.is_boolean() && !value.get<bool>())) {
          a.sudo = "none";
          continue;
        }
        auto rules = value.is_string() ? std::optional(std::vector{value.get<std::string>()})
                                       : string_list(value);
        if (!rules || rules->empty()) {
          skip(top, path, "must be a sudo rule, a list of them, or false");
          continue;
        }
        auto level = sudo_level(rules->front());
        if (!level) {
          skip(
              top, path,
              "guestkit writes only ALL=(ALL) ALL or ALL=(ALL) NOPASSWD:ALL; no sudo rights given");
          a.sudo = "none";
          continue;
        }
        a.sudo = *level;
        if (rules->size() > 1) skip(top, path + "[1..]", "only the first sudo rule is applied");
      } else if (key == "lock_passwd") {
        if (!value.is_boolean())
          skip(top, path, "must be true or false");
        else
          a.lock = value.get<bool>();
      } else if (key == "passwd" || key == "hashed_passwd" || key == "plain_text_passwd") {
        auto s = as_string(value);
        if (!s) {
          skip(top, path, "must be a string");
          continue;
        }
        (key == "passwd" ? from_passwd : key == "hashed_passwd" ? from_hashed : from_plain) = *s;
      } else if (key == "ssh_authorized_keys") {
        auto keys = string_list(value);
        if (!keys || !value.is_array())
          skip(top, path, "must be a list of key lines");
        else
          a.keys.insert(a.keys.end(), keys->begin(), keys->end());
      } else if (key == "shell" || key == "gecos") {
        auto s = as_string(value);
        if (!s)
          skip(top, path, "must be a string");
        else
          (key == "shell" ? a.shell : a.gecos) = *s;
      } else {
        skip(top, path, kUnsupported);
      }
    }
    // create_user applies passwd (useradd), then plain_text_passwd, then hashed_passwd.
    if (from_hashed) {
      a.password_hash = from_hashed, a.password.reset();
      if (from_plain) skip(top, where + ".plain_text_passwd", "hashed_passwd is used instead");
      if (from_passwd) skip(top, where + ".passwd", "hashed_passwd is used instead");
    } else if (from_plain) {
      a.password = from_plain, a.password_hash.reset();
      if (from_passwd) skip(top, where + ".passwd", "plain_text_passwd is used instead");
    } else if (from_passwd) {
      a.password_hash = from_passwd, a.password.reset();
    }
  }

  void root_entry(const json& entry, const std::string& where) {
    Account a;
    user_fields(entry, a, "users", where);
    root_.used = true;
    if (a.password) root_.password = a.password, root_.password_hash.reset();
    if (a.password_hash) root_.password_hash = a.password_hash, root_.password.reset();
    root_.keys.insert(root_.keys.end(), a.keys.begin(), a.keys.end());
    for (const char* k : {"groups", "sudo", "shell", "gecos", "lock_passwd"})
      if (entry.contains(k)) skip("users", where + "." + k, "not applied to root");
  }

  Account* find(const std::string& name) {
    for (auto& a : accounts_)
      if (a.name == name) return &a;
    return nullptr;
  }

  void users() {
    const json& c = in_.config;
    // `user:` renames (string) or configures (map) the default user.
    std::string default_name = in_.default_user;
    std::optional<json> default_map;
    if (c.contains("user")) {
      const json& u = c.at("user");
      if (u.is_string()) {
        default_name = u.get<std::string>();
        applied("user");
      } else if (u.is_object() && u.contains("name") && u.at("name").is_string()) {
        default_name = u.at("name").get<std::string>();
        default_map = u;
        applied("user");
      } else {
        skip("user", "user", "must be a name or a map with a name");
      }
    }
    json list = c.contains("users") ? c.at("users") : json::array({"default"});
    if (c.contains("users")) applied("users");
    if (!list.is_array()) {
      if (list.is_string()) {
        const auto names = string_list(list).value_or(std::vector<std::string>{});
        list = json::array();
        for (const auto& n : names) list.push_back(n);
      } else {
        skip("users", "users", "must be a list");
        list = json::array();
      }
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string where = "users[" + std::to_string(i) + "]";
      const json& entry = list[i];
      if (entry.is_string()) {
        const auto names = string_list(entry).value_or(std::vector<std::string>{});
        for (const auto& n : names) {
          if (n == "default") {
            if (!default_ && !default_name.empty()) {
              accounts_.push_back(make_default(default_name));
              default_ = accounts_.size() - 1;
              if (default_map) user_fields(*default_map, accounts_.back(), "user", "user");
            } else if (default_name.empty()) {
              skip("users", where, "no default user is set for this image (seed.default_user)");
            }
          } else if (n == "root") {
            root_.used = true;
          } else {
            Account a;
            a.name = n;
            a.where = where;
            accounts_.push_back(std::move(a));
          }
        }
        continue;
      }
      if (!entry.is_object() || !entry.contains("name") || !entry.at("name").is_string()) {
        skip("users", where, "a user needs a name");
        continue;
      }
      const std::string name = entry.at("name").get<std::string>();
      if (name == "root") {
        root_entry(entry, where);
        continue;
      }
      if (Account* same = find(name)) {  // the default user (or one named twice): merged
        user_fields(entry, *same, "users", where);
        continue;
      }
      Account a;
      a.name = name;
      a.where = where;
      user_fields(entry, a, "users", where);
      accounts_.push_back(std::move(a));
    }
    if (default_map && !default_) skip("user", "user", "the users list has no \"default\" entry");
  }

  // A password from chpasswd or `password`: `text` or `hash`.
  void set_password(const std::string& top, const std::string& path, const std::string& name,
                    const std::string& value, bool hashed) {
    if (value == "R" || value == "RANDOM") {
      skip(top, path, "random passwords are not applied (cloud-init prints them on the console)");
      return;
    }
    if (name == "root") {
      root_.used = true;
      (hashed ? root_.password_hash : root_.password) = value;
      (hashed ? root_.password : root_.password_hash).reset();
      root_.expire = expire_;
      return;
    }
    Account* a = find(name);
    if (!a) {
      skip(top, path, "'" + name + "' is not root or a user this seed creates");
      return;
    }
    (hashed ? a->password_hash : a->password) = value;
    (hashed ? a->password : a->password_hash).reset();
    a->lock = false;
    a->expire = expire_;
  }

  void chpasswd(const json& c) {
    if (!c.is_object()) {
      skip("chpasswd", "chpasswd", "must be a map");
      return;
    }
    applied("chpasswd");
    if (c.contains("expire")) {
      if (c.at("expire").is_boolean())
        expire_ = c.at("expire").get<bool>();
      else
        skip("chpasswd", "chpasswd.expire", "must be true or false");
    }
    for (const auto& [key, value] : c.items())
      if (key != "expire" && key != "users" && key != "list")
        skip("chpasswd", "chpasswd." + key, kUnsupported);
    if (c.contains("users")) {
      const json& users = c.at("users");
      if (!users.is_array()) skip("chpasswd", "chpasswd.users", "must be a list");
      for (std::size_t i = 0; users.is_array() && i < users.size(); ++i) {
        const std::string path = "chpasswd.users[" + std::to_string(i) + "]";
        const json& u = users[i];
        if (!u.is_object() || !u.contains("name") || !as_string(u.at("name"))) {
          skip("chpasswd", path, "needs a name");
          continue;
        }
        const std::string type = u.contains("type") && u.at("type").is_string()
                                     ? u.at("type").get<std::string>()
                                     : "text";
        if (type == "RANDOM") {
          skip("chpasswd", path,
               "random passwords are not applied (cloud-init prints them on the console)");
          continue;
        }
        if (type != "text" && type != "hash") {
          skip("chpasswd", path + ".type", "must be text, hash or RANDOM");
          continue;
        }
        auto pw = u.contains("password") ? as_string(u.at("password")) : std::nullopt;
        if (!pw) {
          skip("chpasswd", path, "needs a password");
          continue;
        }
        set_password("chpasswd", path, *as_string(u.at("name")), *pw, type == "hash");
      }
    }
    if (c.contains("list")) {
      const json& list = c.at("list");
      std::vector<std::string> lines;
      if (list.is_string()) {
        std::string line;
        for (char ch : list.get<std::string>() + "\n") {
          if (ch == '\n') {
            if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
            line.clear();
          } else {
            line += ch;
          }
        }
      } else if (auto l = string_list(list); l && list.is_array()) {
        lines = *l;
      } else {
        skip("chpasswd", "chpasswd.list", "must be lines of name:password");
      }
      for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string path = "chpasswd.list[" + std::to_string(i) + "]";
        const auto colon = lines[i].find(':');
        if (colon == std::string::npos || colon == 0) {
          skip("chpasswd", path, "must be name:password");
          continue;
        }
        std::string name = lines[i].substr(0, colon);
        name.erase(0, name.find_first_not_of(" \t"));
        const std::string value = lines[i].substr(colon + 1);
        set_password("chpasswd", path, name, value, value.starts_with("$"));
      }
    }
  }

  void password(const json& v) {
    auto s = as_string(v);
    if (!s) {
      skip("password", "password", "must be a string");
      return;
    }
    if (!default_) {
      skip("password", "password", "there is no default user to give it to");
      return;
    }
    applied("password");
    set_password("password", "password", accounts_[*default_].name, *s, false);
  }

  void keys() {
    const json& c = in_.config;
    std::vector<std::string> keys = in_.meta_keys;
    if (c.contains("ssh_authorized_keys")) {
      auto list = string_list(c.at("ssh_authorized_keys"));
      if (!list || !c.at("ssh_authorized_keys").is_array()) {
        skip("ssh_authorized_keys", "ssh_authorized_keys", "must be a list of key lines");
      } else {
        keys.insert(keys.end(), list->begin(), list->end());
        applied("ssh_authorized_keys");
      }
    }
    const bool disable_root = get_bool("disable_root", true);
    if (c.contains("disable_root")) applied("disable_root");
    if (keys.empty()) return;
    if (default_) {
      auto& a = accounts_[*default_];
      a.keys.insert(a.keys.begin(), keys.begin(), keys.end());
    }
    if (!disable_root) {
      root_.used = true;
      root_.keys.insert(root_.keys.end(), keys.begin(), keys.end());
    } else if (!default_) {
      out_.not_applied.push_back(
          {"ssh_authorized_keys", "no default user, and disable_root keeps them from root"});
    }
  }

  void ssh_pwauth(const json& v) {
    if (v.is_boolean()) {
      out_.order["ssh_pwauth"] = v.get<bool>();
      applied("ssh_pwauth");
    } else if (v.is_string() && v.get<std::string>() == "unchanged") {
      applied("ssh_pwauth");
    } else {
      skip("ssh_pwauth", "ssh_pwauth", "must be true, false or unchanged");
    }
  }

  void timezone(const json& v) {
    if (!v.is_string()) {
      skip("timezone", "timezone", "must be a string");
      return;
    }
    out_.order["timezone"] = v.get<std::string>();
    applied("timezone");
  }

  void runcmd(const json& v) {
    std::string problem;
    auto script = runcmd_script(v, problem);
    if (!script) {
      skip("runcmd", "runcmd", problem);
      return;
    }
    out_.order["postboot"].push_back({{"name", "60-runcmd"}, {"script", *script}});
    applied("runcmd");
  }

  void emit() {
    if (root_.used && (root_.password || root_.password_hash || !root_.keys.empty())) {
      json r = json::object();
      if (root_.password) r["password"] = *root_.password;
      if (root_.password_hash) r["password_hash"] = *root_.password_hash;
      if (!root_.keys.empty()) r["ssh_keys"] = root_.keys;
      if (root_.expire && (root_.password || root_.password_hash)) r["expire_password"] = true;
      out_.order["root"] = r;
    }
    for (const auto& a : accounts_) {
      json u = {{"name", a.name}, {"sudo", a.sudo}};
      if (a.password) u["password"] = *a.password;
      if (a.password_hash) u["password_hash"] = *a.password_hash;
      if (!a.keys.empty()) u["ssh_keys"] = a.keys;
      if (!a.groups.empty()) u["groups"] = a.groups;
      if (a.shell) u["shell"] = *a.shell;
      if (a.gecos) u["gecos"] = *a.gecos;
      if (a.lock) u["lock_password"] = true;
      if (a.expire && !a.lock && (a.password || a.password_hash)) u["expire_password"] = true;
      out_.order["users"].push_back(u);
    }
  }
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace

std::optional<std::string> runcmd_script(const json& runcmd, std::string& problem) {
  if (!runcmd.is_array()) {
    problem = "must be a list of commands";
    return std::nullopt;
  }
  std::string script = "#!/bin/sh\n# runcmd from the platform's cloud-config (guestkit-seed)\n";
  for (const auto& item : runcmd) {
    if (auto s = as_string(item)) {
      script += *s + "\n";
    } else if (item.is_array()) {
      std::string line;
      for (const auto& word : item) {
        auto w = as_string(word);
        if (!w) {
          problem = "a command list holds something other than strings";
          return std::nullopt;
        }
        line += (line.empty() ? "" : " ") + shell_quote(*w);
      }
      script += line + "\n";
    } else {
      problem = "each command must be a string or a list of strings";
      return std::nullopt;
    }
    if (script.find('\0') != std::string::npos) {
      problem = "a command holds a NUL byte";
      return std::nullopt;
    }
  }
  return script;
}

void translate_cloud_config(const CloudInput& in, Normalised& out) {
  Translator(in, out).run();
}

}  // namespace guestkit::plugins::seed::detail
