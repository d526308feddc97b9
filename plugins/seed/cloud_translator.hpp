#pragma once
// Private to cloud_config.cpp and cloud_users.cpp: the #cloud-config translator
// (normalise.hpp's translate_cloud_config). cloud_config.cpp has the list of keys and
// their meaning; cloud_users.cpp the accounts (users, user, chpasswd, password).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "plugins/seed/normalise.hpp"

namespace guestkit::plugins::seed::detail {

using nlohmann::json;

inline constexpr const char* kUnsupported = "not supported by guestkit";

std::optional<std::string> as_string(const json& v);

// A list of strings, or one string of comma-separated items.
std::optional<std::vector<std::string>> string_list(const json& v);

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
std::optional<std::string> sudo_level(const std::string& rule);

class Translator {
 public:
  Translator(const CloudInput& in, Normalised& out) : in_(in), out_(out) {}

  void run();

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
  bool get_bool(const std::string& key, bool fallback);

  void hostname();

  Account make_default(const std::string& name);

  // One `users` entry (or `user:` given as a map) onto `a`.
  void user_fields(const json& entry, Account& a, const std::string& top, const std::string& where);

  void root_entry(const json& entry, const std::string& where);

  Account* find(const std::string& name);

  void users();

  // A password from chpasswd or `password`: `text` or `hash`.
  void set_password(const std::string& top, const std::string& path, const std::string& name,
                    const std::string& value, bool hashed);

  void chpasswd(const json& c);

  void password(const json& v);

  void keys();

  void ssh_pwauth(const json& v);

  void timezone(const json& v);

  void runcmd(const json& v);

  void emit();
};

}  // namespace guestkit::plugins::seed::detail
