// The accounts of a #cloud-config (cloud_config.cpp lists what they mean): `users`,
// `user`, `chpasswd`, `password`.

#include <algorithm>

#include "plugins/seed/cloud_translator.hpp"

namespace guestkit::plugins::seed::detail {

std::optional<std::string> as_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

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

std::optional<std::string> sudo_level(const std::string& rule) {
  std::string r;
  for (char c : rule)
    if (c != ' ' && c != '\t') r += c;
  if (r == "ALL=(ALL)NOPASSWD:ALL" || r == "ALL=(ALL:ALL)NOPASSWD:ALL") return "nopasswd";
  if (r == "ALL=(ALL)ALL" || r == "ALL=(ALL:ALL)ALL") return "password";
  return std::nullopt;
}

Account Translator::make_default(const std::string& name) {
  Account a;
  a.name = name;
  a.where = "the default user";
  a.sudo = "nopasswd";
  a.lock = true;
  return a;
}

void Translator::user_fields(const json& entry, Account& a, const std::string& top,
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
        skip(top, path,
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

void Translator::root_entry(const json& entry, const std::string& where) {
  Account a;
  user_fields(entry, a, "users", where);
  root_.used = true;
  if (a.password) root_.password = a.password, root_.password_hash.reset();
  if (a.password_hash) root_.password_hash = a.password_hash, root_.password.reset();
  root_.keys.insert(root_.keys.end(), a.keys.begin(), a.keys.end());
  for (const char* k : {"groups", "sudo", "shell", "gecos", "lock_passwd"})
    if (entry.contains(k)) skip("users", where + "." + k, "not applied to root");
}

Account* Translator::find(const std::string& name) {
  for (auto& a : accounts_)
    if (a.name == name) return &a;
  return nullptr;
}

void Translator::users() {
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

void Translator::set_password(const std::string& top, const std::string& path,
                              const std::string& name, const std::string& value, bool hashed) {
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

void Translator::chpasswd(const json& c) {
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
      const std::string type =
          u.contains("type") && u.at("type").is_string() ? u.at("type").get<std::string>() : "text";
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

void Translator::password(const json& v) {
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

}  // namespace guestkit::plugins::seed::detail
