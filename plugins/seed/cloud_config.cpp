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

#include "core/encoding.hpp"
#include "core/paths.hpp"
#include "plugins/seed/cloud_translator.hpp"
namespace guestkit::plugins::seed::detail {

void Translator::run() {
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
  for (const auto& item : c.items()) {
    const std::string& key = item.key();  // a name, not a structured binding: clang 14
                                          // cannot capture those in a lambda
    if (std::none_of(std::begin(kHandled), std::end(kHandled),
                     [&](const char* k) { return key == k; }))
      skip(key, key, kUnsupported);
  }
  emit();
}

bool Translator::get_bool(const std::string& key, bool fallback) {
  if (!in_.config.contains(key)) return fallback;
  const auto& v = in_.config.at(key);
  if (v.is_boolean()) return v.get<bool>();
  skip(key, key, "must be true or false");
  return fallback;
}

void Translator::hostname() {
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

void Translator::keys() {
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

void Translator::ssh_pwauth(const json& v) {
  if (v.is_boolean()) {
    out_.order["ssh_pwauth"] = v.get<bool>();
    applied("ssh_pwauth");
  } else if (v.is_string() && v.get<std::string>() == "unchanged") {
    applied("ssh_pwauth");
  } else {
    skip("ssh_pwauth", "ssh_pwauth", "must be true, false or unchanged");
  }
}

void Translator::timezone(const json& v) {
  if (!v.is_string()) {
    skip("timezone", "timezone", "must be a string");
    return;
  }
  out_.order["timezone"] = v.get<std::string>();
  applied("timezone");
}

void Translator::runcmd(const json& v) {
  std::string problem;
  auto script = runcmd_script(v, problem);
  if (!script) {
    skip("runcmd", "runcmd", problem);
    return;
  }
  out_.order["postboot"].push_back({{"name", "60-runcmd"}, {"script", *script}});
  applied("runcmd");
}

void Translator::emit() {
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

std::optional<std::string> runcmd_script(const json& runcmd, std::string& problem) {
  if (!runcmd.is_array()) {
    problem = "must be a list of commands";
    return std::nullopt;
  }
  std::string script = "#!" + std::string(core::paths::kBinSh) +
                       "\n# runcmd from the platform's cloud-config (guestkit-seed)\n";
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
        line += (line.empty() ? "" : " ") + core::shell_quote(*w);
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
