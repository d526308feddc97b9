#include "plugins/provision/accounts.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::plugins::provision {
namespace {

constexpr std::size_t kAccountsLimit = 16u << 20;

// "a:b::c" -> {"a", "b", "", "c"} (a passwd/group line's fields, or with ',' a group's
// member list).
std::vector<std::string> split(const std::string& text, char separator = ':') {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = text.find(separator, start);
    out.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

std::optional<unsigned> number(const std::string& text) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// shadow-utils' --root, only for a root that is not the live system.
std::vector<std::string> root_args(const core::Root& root) {
  if (root.is_host()) return {};
  return {"--root", root.prefix().string()};
}

}  // namespace

core::Result<std::optional<Account>> find_account(const core::Root& root, const std::string& name) {
  auto text = core::read_file(root, core::paths::kPasswd, kAccountsLimit);
  if (!text) return std::move(text).error();
  for (const auto& line : core::split_lines(*text)) {
    const auto f = split(line);
    if (f.size() < 7 || f[0] != name) continue;
    const auto uid = number(f[2]);
    const auto gid = number(f[3]);
    if (!uid || !gid)
      return core::make_error(core::Errc::bad_input,
                              root.display(core::paths::kPasswd) + ": bad entry for " + name);
    return std::optional<Account>(Account{name, *uid, *gid, f[5], f[4], f[6]});
  }
  return std::optional<Account>{};
}

core::Result<std::optional<gid_t>> find_group(const core::Root& root, const std::string& name) {
  auto text = core::read_file(root, core::paths::kGroup, kAccountsLimit);
  if (!text) return std::move(text).error();
  for (const auto& line : core::split_lines(*text)) {
    const auto f = split(line);
    if (f.size() < 3 || f[0] != name) continue;
    if (const auto gid = number(f[2])) return std::optional<gid_t>(*gid);
  }
  return std::optional<gid_t>{};
}

bool is_system_account(const Account& account) {
  return account.uid < 1000 || account.uid == 65534;
}

core::Result<std::string> admin_group(const core::Root& root) {
  for (const char* name : {"sudo", "wheel"}) {
    auto gid = find_group(root, name);
    if (!gid) return std::move(gid).error();
    if (*gid) return std::string(name);
  }
  return core::make_error(core::Errc::bad_input, "the image has neither a sudo nor a wheel group");
}

core::Result<std::vector<std::string>> admin_groups_of(const core::Root& root,
                                                       const std::string& name) {
  auto text = core::read_file(root, core::paths::kGroup, kAccountsLimit);
  if (!text) return std::move(text).error();
  std::vector<std::string> out;
  for (const auto& line : core::split_lines(*text)) {
    const auto f = split(line);
    if (f.size() < 4) continue;
    bool admin = false;
    for (const char* g : kAdminGroups) admin = admin || f[0] == g;
    if (!admin) continue;
    const auto members = split(f[3], ',');
    if (std::find(members.begin(), members.end(), name) != members.end()) out.push_back(f[0]);
  }
  return out;
}

core::Status leave_group(const core::Root& root, const std::string& name,
                         const std::string& group) {
  if (auto ok = clear_stale_shadow_locks(root); !ok) return ok;
  // gpasswd names its chroot option -Q/--root; the other tools take --root too.
  std::vector<std::string> argv{"gpasswd"};
  for (auto& a : root_args(root)) argv.push_back(std::move(a));
  argv.insert(argv.end(), {"--delete", name, group});
  if (auto r = core::run_tool(argv); !r) return std::move(r).error();
  return {};
}

core::Result<bool> ensure_user(const core::Root& root, const std::string& name,
                               const std::vector<std::string>& groups) {
  if (auto ok = clear_stale_shadow_locks(root); !ok) return std::move(ok).error();
  auto existing = find_account(root, name);
  if (!existing) return std::move(existing).error();
  std::string group_list;
  for (const auto& g : groups) group_list += (group_list.empty() ? "" : ",") + g;
  if (*existing) {
    if (auto ok = repair_account(root, **existing); !ok) return std::move(ok).error();
    if (!groups.empty()) {
      std::vector<std::string> argv{"usermod", "--append", "--groups", group_list};
      for (auto& a : root_args(root)) argv.push_back(std::move(a));
      argv.insert(argv.end(), {"--", name});
      if (auto ok = core::run_tool(argv); !ok) return std::move(ok).error();
    }
    auto home = ensure_home(root, **existing);
    if (!home) return std::move(home).error();
    return false;
  }
  auto bash = root.stat(core::paths::kBinBash);
  const bool has_bash = bash && *bash;
  // No --create-home: ensure_home builds the home whole or not at all, where useradd
  // killed after writing /etc/passwd left a user without one for good.
  std::vector<std::string> argv{"useradd", "--no-create-home", "--user-group", "--shell",
                                has_bash ? core::paths::kBinBash : core::paths::kBinSh};
  if (!groups.empty()) {
    argv.push_back("--groups");
    argv.push_back(group_list);
  }
  for (auto& a : root_args(root)) argv.push_back(std::move(a));
  argv.push_back("--");
  argv.push_back(name);
  if (auto ok = core::run_tool(argv); !ok) return std::move(ok).error();
  auto created = find_account(root, name);
  if (!created) return std::move(created).error();
  if (!*created)
    return core::make_error(core::Errc::failed, "useradd succeeded but " + name + " is not in " +
                                                    root.display(core::paths::kPasswd));
  auto home = ensure_home(root, **created);
  if (!home) return std::move(home).error();
  return true;
}

core::Status set_password_hash(const core::Root& root, const std::string& name,
                               const core::Secret& hash) {
  if (auto ok = clear_stale_shadow_locks(root); !ok) return ok;
  std::vector<std::string> argv{"chpasswd", "--encrypted"};
  for (auto& a : root_args(root)) argv.push_back(std::move(a));
  // The hash on stdin, never in argv (run_tool's rule): /proc/PID/cmdline is world-readable.
  core::ToolOptions options;
  options.stdin_data = name + ":" + hash.reveal() + "\n";
  auto ran = core::run_tool(argv, options);
  ::explicit_bzero(options.stdin_data.data(), options.stdin_data.size());
  if (!ran) return std::move(ran).error();
  return {};
}

std::string sudoers_path(const std::string& name) {
  return std::string(core::paths::kSudoersDir) + "/90-guestkit-" + name;
}

std::string sudoers_text(const std::string& name, Sudo sudo) {
  return "# Written by guestkit-agent (30-create-admin-user) for the platform's admin user.\n" +
         name + " ALL=(ALL:ALL) " + (sudo == Sudo::nopasswd ? "NOPASSWD: " : "") + "ALL\n";
}

core::Result<bool> write_sudoers(const core::Root& root, const std::string& name, Sudo sudo) {
  const std::string path = sudoers_path(name);
  if (sudo == Sudo::none) {
    auto parent = root.open_parent(path, core::Follow::never);
    if (!parent)
      return parent.error().code == std::errc::no_such_file_or_directory
                 ? core::Result<bool>(false)
                 : core::Result<bool>(std::move(parent).error());
    if (::unlinkat(parent->dir.get(), parent->leaf.c_str(), 0) == 0) return true;
    if (errno == ENOENT) return false;
    return core::errno_error("remove " + root.display(path));
  }
  const std::string text = sudoers_text(name, sudo);
  auto current = core::read_file_if_exists(root, path, 1 << 16, core::Follow::never);
  if (current && *current && **current == text) return false;
  if (const auto visudo = core::find_program("visudo")) {
    // The text is checked on its own (not the image's whole sudoers, which may name
    // includes visudo resolves on the host) before it goes anywhere sudo reads. On
    // stdin ("-f -"): no temporary file that a kill could leave behind in /tmp.
    core::ToolOptions options;
    options.stdin_data = text;
    auto checked = core::run_tool({*visudo, "-c", "-q", "-f", "-"}, options);
    if (!checked) return std::move(checked).error();
  }
  core::WriteOptions wo;
  wo.mode = 0440;
  wo.owner = 0;
  wo.group = 0;
  wo.follow = core::Follow::never;
  wo.create_parents = true;
  wo.parent_mode = 0750;
  if (auto w = core::write_file_atomic(root, path, text, wo); !w) return std::move(w).error();
  return true;
}

}  // namespace guestkit::plugins::provision
