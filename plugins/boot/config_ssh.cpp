// 11-config-ssh (config): SSH host keys and sshd hardening.
//
// * Missing host keys (rsa, ecdsa, ed25519) are generated with `ssh-keygen -A`
//   (`-f ROOT` under --root), before sshd starts (guestkit-config-ssh.service runs
//   this plugin alone, before ssh.service; the rest of the stage runs beside sshd).
// * PermitRootLogin (sshd.permit_root_login, default prohibit-password) and
//   PermitEmptyPasswords no. When sshd_config includes sshd_config.d/*.conf
//   (OpenSSH 8.2+, Debian 11+, RHEL 9) they go into the drop-in
//   sshd_config.d/50-guestkit.conf; otherwise sshd_config itself is edited: the
//   first global occurrence of each keyword is replaced, later global duplicates
//   removed, and a missing one inserted before the first Match block (sshd takes the
//   first value it reads, and anything after a Match line belongs to that block).
// Nothing is written through a symlink: a planted sshd_config.d link is an error
// before anything changes.

#include "plugins/boot/config_ssh.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/boot/host_keys.hpp"

namespace guestkit::plugins::boot {
namespace {

// The keyword of an active line, lower-cased ("" for blanks and comments).
std::string keyword(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  std::string k;
  while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '=') {
    k += static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
    ++i;
  }
  return k.starts_with("#") ? "" : k;
}

std::vector<std::string> words_after_keyword(std::string_view line) {
  std::vector<std::string> words;
  std::string cur;
  bool first = true;
  for (char c : std::string(line) + " ") {
    if (c == ' ' || c == '\t' || c == '=') {
      if (!cur.empty()) {
        if (!first) words.push_back(cur);
        first = false;
        cur.clear();
      }
    } else {
      cur += c;
    }
  }
  return words;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> sshd_settings(const core::Config& config) {
  return {{"PermitRootLogin", config.sshd.permit_root_login}, {"PermitEmptyPasswords", "no"}};
}

bool includes_dropin_dir(const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    if (keyword(line) == "match") return false;  // an Include inside Match is conditional
    if (keyword(line) != "include") continue;
    for (const auto& w : words_after_keyword(line))
      if (w == std::string(core::paths::kSshdConfigDir) + "/*.conf" || w == "sshd_config.d/*.conf")
        return true;
  }
  return false;
}

void harden_sshd_config(std::vector<std::string>& lines,
                        const std::vector<std::pair<std::string, std::string>>& settings) {
  for (const auto& [key, value] : settings) {
    const std::string want = key + " " + value;
    const std::string k = lower(key);
    bool done = false;
    std::size_t i = 0;
    for (; i < lines.size(); ++i) {
      const std::string kw = keyword(lines[i]);
      if (kw == "match") break;
      if (kw != k) continue;
      if (!done) {
        lines[i] = want;
        done = true;
      } else {
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(i));
        --i;
      }
    }
    if (!done) lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(i), want);
  }
}

std::string sshd_dropin_text(const core::Config& config) {
  std::string text =
      "# Written by guestkit (plugin 11-config-ssh) at every boot: edits here are lost.\n"
      "# Change sshd.permit_root_login, or stop this with \"sshd: false\", in\n"
      "# /etc/guestkit/guestkit.yml.\n";
  for (const auto& [key, value] : sshd_settings(config)) text += key + " " + value + "\n";
  return text;
}

core::Result<Outcome> config_ssh(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  auto present = ssh_dir_present(root);
  if (!present) return std::move(present).error();
  if (!*present) return Outcome::skipped;  // no OpenSSH in this image
  auto main =
      core::read_file_if_exists(root, core::paths::kSshdConfig, 1 << 20, core::Follow::never);
  if (!main) return std::move(main).error();
  if (!*main) return Outcome::skipped;  // the client only, no sshd
  const auto lines = core::split_lines(**main);
  const bool dropin = includes_dropin_dir(lines);

  // Check the way before changing anything.
  bool make_dir = false;
  if (dropin) {
    auto st = root.lstat(core::paths::kSshdConfigDir);
    if (!st) return std::move(st).error();
    if (*st && S_ISLNK((*st)->st_mode))
      return core::make_error(
          core::Errc::symlink_refused,
          root.display(core::paths::kSshdConfigDir) + " is a symlink: not writing through it");
    if (*st && !S_ISDIR((*st)->st_mode))
      return core::make_error(core::Errc::unsafe,
                              root.display(core::paths::kSshdConfigDir) + " is not a directory");
    make_dir = !*st;
  }
  auto missing = missing_host_keys(root);
  if (!missing) return std::move(missing).error();

  bool changed = false;
  if (!missing->empty()) {
    std::string types;
    for (const auto& t : *missing) types += (types.empty() ? "" : ",") + t;
    if (p.ctx.dry_run)
      p.ctx.would("generate SSH host keys (" + types + ") with ssh-keygen -A");
    else if (auto g = generate_host_keys(p.ctx); !g)
      return std::move(g).error();
    changed = true;
  }

  if (dropin) {
    const std::string text = sshd_dropin_text(p.ctx.config);
    core::WriteOptions wo;
    wo.mode = 0600;
    wo.follow = core::Follow::never;
    auto current =
        core::read_file_if_exists(root, core::paths::kSshdDropin, 1 << 20, core::Follow::never);
    auto st = root.lstat(core::paths::kSshdDropin);
    if (!st) return std::move(st).error();
    const bool same =
        current && *current && **current == text && *st && ((*st)->st_mode & 07777) == wo.mode;
    if (!same) {
      if (p.ctx.dry_run) {
        p.ctx.would("write " + root.display(core::paths::kSshdDropin));
      } else {
        if (make_dir) {
          if (auto d = root.mkdirs(core::paths::kSshdConfigDir, 0755, core::Follow::never); !d)
            return std::move(d).error();
        }
        if (auto w = core::write_file_atomic(root, core::paths::kSshdDropin, text, wo); !w)
          return std::move(w).error();
      }
      changed = true;
    }
  } else {
    auto edited = lines;
    harden_sshd_config(edited, sshd_settings(p.ctx.config));
    if (edited != lines) {
      if (p.ctx.dry_run) {
        p.ctx.would("set PermitRootLogin and PermitEmptyPasswords in " +
                    root.display(core::paths::kSshdConfig));
      } else {
        core::WriteOptions wo;
        wo.follow = core::Follow::never;
        auto w = core::edit_lines(
            root, core::paths::kSshdConfig,
            [&](std::vector<std::string>& l) {
              harden_sshd_config(l, sshd_settings(p.ctx.config));
            },
            wo);
        if (!w) return std::move(w).error();
      }
      changed = true;
    }
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::boot
