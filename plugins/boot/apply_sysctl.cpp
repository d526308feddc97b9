// 02-apply-sysctl (bootstrap): the platform's kernel settings from
// /etc/guestkit/sysctl.conf, in sysctl.conf(5) syntax: `key = value` (dots or
// slashes), `#`/`;` comments, a leading `-` to ignore a key the kernel lacks.
//
// Each value is written to /proc/sys/<key> under the root only when it differs
// (whitespace-insensitive), and only to files that exist: a setting is never
// created. A bad line or a refused write is reported by key; the others still apply.

#include <algorithm>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/boot/sysctl_conf.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::boot {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

// Collapses runs of blanks, so "4096\t87380" equals "4096 87380".
std::string squeeze(std::string_view s) {
  std::string out;
  bool blank = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n') {
      blank = true;
      continue;
    }
    if (blank && !out.empty()) out += ' ';
    blank = false;
    out += c;
  }
  return out;
}

// "net.ipv4.ip_forward" or "net/ipv4/ip_forward" -> "/proc/sys/net/ipv4/ip_forward".
std::optional<std::string> key_path(std::string_view key) {
  if (key.empty() || key.size() > 256) return std::nullopt;
  // sysctl.d(5): with dots as separators, a slash inside a component stands for a dot
  // (vlan interface names: "net.ipv4.conf.eth0/100.rp_filter" is
  // /proc/sys/net/ipv4/conf/eth0.100/rp_filter); with slashes as separators (the first
  // separator is a slash), a dot is a dot. Either way a component is never "." or ".." (fuzz/sysctl_conf.cpp once
  // found "kernel/.//panic" taken as the path /proc/sys/kernel///panic).
  // The first separator decides the style, as in sysctl.d(5) and procps' sysctl.
  const auto first = key.find_first_of("./");
  const bool slashes = first != std::string_view::npos && key[first] == '/';
  std::string path = core::paths::kProcSys;
  std::string part;
  auto flush = [&]() {
    if (part.empty() || part == "." || part == "..") return false;
    path += "/" + part;
    part.clear();
    return true;
  };
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == '@';
    if (!ok) return std::nullopt;
    if ((slashes && c == '/') || (!slashes && c == '.')) {
      if (!flush()) return std::nullopt;
    } else {
      part += (!slashes && c == '/') ? '.' : c;
    }
  }
  if (!flush()) return std::nullopt;
  return path;
}

}  // namespace

SysctlConf parse_sysctl_conf(std::string_view text, std::string_view display) {
  SysctlConf conf;
  int number = 0;
  for (const auto& raw : core::split_lines(text)) {
    ++number;
    std::string line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const auto eq = line.find('=');
    const std::string where = std::string(display) + ":" + std::to_string(number);
    if (eq == std::string::npos) {
      conf.problems.push_back(where + ": not 'key = value'");
      continue;
    }
    SysctlSetting s;
    s.line = number;
    s.key = trim(std::string_view(line).substr(0, eq));
    s.value = trim(std::string_view(line).substr(eq + 1));
    s.optional = !s.key.empty() && s.key.front() == '-';
    if (s.optional) s.key.erase(0, 1);
    auto path = key_path(s.key);
    if (!path) {
      conf.problems.push_back(where + ": invalid key");
      continue;
    }
    s.path = std::move(*path);
    conf.settings.push_back(std::move(s));
  }
  return conf;
}

core::Result<Outcome> apply_sysctl(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  auto text = core::read_file_if_exists(root, core::paths::kSysctlConf, 1 << 20);
  if (!text) return std::move(text).error();
  if (!*text) return Outcome::skipped;

  auto conf = parse_sysctl_conf(**text, root.display(core::paths::kSysctlConf));
  bool changed = false;
  std::vector<std::string> problems = std::move(conf.problems);
  for (const auto& setting : conf.settings) {
    const std::string& key = setting.key;
    const std::string& value = setting.value;
    const bool optional = setting.optional;
    const auto* path = &setting.path;
    // Never follow a symlink out of /proc/sys, never create a setting.
    auto current = sysfs::read_attr(root, *path);
    if (!current || !*current) {
      if (!optional)
        problems.push_back(key + ": " + (current ? "no such setting" : current.error().message()));
      continue;
    }
    if (squeeze(**current) == squeeze(value)) continue;
    if (p.ctx.dry_run) {
      p.ctx.would("set " + key + " = " + value);
      changed = true;
      continue;
    }
    if (auto written = sysfs::write_attr(root, *path, value + "\n"); !written) {
      if (!optional) problems.push_back(key + ": " + written.error().message());
      continue;
    }
    changed = true;
  }
  if (!problems.empty()) {
    std::string joined;
    for (const auto& pr : problems) joined += (joined.empty() ? "" : "; ") + pr;
    return core::make_error(core::Errc::failed, joined);
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::boot
