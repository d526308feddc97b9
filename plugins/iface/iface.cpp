#include "plugins/iface/iface.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/udev_device.hpp"
#include "core/udev_event.hpp"

namespace guestkit::plugins::iface {
namespace {

constexpr unsigned kArphrdEther = 1;
constexpr unsigned kArphrdLoopback = 772;
constexpr std::size_t kSysfsLimit = 64 * 1024;

std::string trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return std::string(s);
}

template <class T>
std::optional<T> number(std::string_view text) {
  T v{};
  auto t = trim(text);
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size() || t.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> read_trimmed(const core::Root& root, const std::string& guest) {
  auto r = core::read_file_if_exists(root, guest, kSysfsLimit);
  if (!r || !*r) return std::nullopt;
  return trim(**r);
}

// A sysfs attribute of the directory `dir` (an O_PATH fd), trimmed; nullopt if absent.
std::optional<std::string> read_at(int dir, const char* leaf) {
  core::UniqueFd fd(::openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kSysfsLimit) return std::nullopt;
  }
  return trim(out);
}

std::string basename(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

core::Result<std::string> check_iface_name(const std::string& name) {
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  bool ok = core::valid_ifname(name) && alnum(name.front()) &&
            std::all_of(name.begin(), name.end(),
                        [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
  if (!ok)
    return core::make_error(core::Errc::bad_input,
                            "invalid interface name '" + core::sanitize_for_log(name) + "'");
  return name;
}

std::string IfaceInfo::kind() const {
  if (type == kArphrdLoopback) return "loopback";
  if (!devtype.empty()) return devtype;
  if (is_tun) return "tun/tap";
  if (type != kArphrdEther) return "non-Ethernet (type " + std::to_string(type) + ")";
  if (!has_device) return "virtual (veth or similar)";
  return "ethernet";
}

core::Result<IfaceInfo> read_iface(const core::Root& root, std::string_view name) {
  IfaceInfo info;
  info.name = std::string(name);
  if (!check_iface_name(info.name)) return info;  // no such name can exist under sysfs
  const std::string dir = std::string(core::paths::kSysClassNet) + "/" + info.name;
  // The class entry is a link into /sys/devices, followed inside the root once; the
  // attributes are read relative to it (fixed leaf names, O_NOFOLLOW), which keeps an
  // event to a few dozen system calls instead of a root walk per attribute.
  auto fd = root.open(dir, O_PATH | O_DIRECTORY, 0, core::Follow::in_root);
  if (!fd) {
    if (fd.error().code == std::errc::no_such_file_or_directory) return info;
    return std::move(fd).error();
  }
  info.present = true;
  if (auto v = read_at(fd->get(), "ifindex")) info.ifindex = number<int>(*v).value_or(0);
  if (auto v = read_at(fd->get(), "type")) info.type = number<unsigned>(*v).value_or(0);
  if (auto v = read_at(fd->get(), "uevent")) {
    auto props = core::parse_uevent(*v);
    if (auto it = props.find("DEVTYPE"); it != props.end()) info.devtype = it->second;
  }
  struct stat st {};
  info.has_device = ::fstatat(fd->get(), "device", &st, AT_SYMLINK_NOFOLLOW) == 0;
  info.is_tun = ::fstatat(fd->get(), "tun_flags", &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (info.has_device) {
    auto driver = root.resolve(dir + "/device/driver", core::Follow::in_root, true);
    if (driver) info.driver = basename(*driver);
  }
  return info;
}

bool is_glob(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

bool glob_match(std::string_view pattern, std::string_view name) {
  return ::fnmatch(std::string(pattern).c_str(), std::string(name).c_str(), 0) == 0;
}

bool name_matches(const core::IfaceConfig& config, std::string_view name) {
  return name != "lo" &&
         std::any_of(config.match.begin(), config.match.end(), [&](const std::string& p) {
           return is_glob(p) ? glob_match(p, name) : p == name;
         });
}

std::string why_not_handled(const core::IfaceConfig& config, const IfaceInfo& info) {
  if (info.name == "lo" || info.type == kArphrdLoopback) return "loopback is never handled";
  bool exact = false, glob = false;
  for (const auto& p : config.match) {
    if (!is_glob(p) && p == info.name) exact = true;
    if (is_glob(p) && glob_match(p, info.name)) glob = true;
  }
  if (exact) return "";
  if (!glob) return "not in iface.match";
  const std::string kind = info.kind();
  if (kind != "ethernet")
    return kind + " interface: list its name exactly in iface.match to handle it";
  return "";
}

bool is_no_dhcp(const core::IfaceConfig& config, std::string_view name) {
  return std::any_of(config.no_dhcp.begin(), config.no_dhcp.end(), [&](const std::string& p) {
    return is_glob(p) ? glob_match(p, name) : p == name;
  });
}

core::Result<std::vector<IfaceInfo>> handled_ifaces(const core::Root& root,
                                                    const core::IfaceConfig& config) {
  auto names = root.list_dir(core::paths::kSysClassNet);
  if (!names) return std::move(names).error();
  std::vector<IfaceInfo> out;
  for (const auto& name : *names) {
    if (!check_iface_name(name)) continue;
    // Only names some pattern takes are worth reading sysfs for (hosts with many
    // container veths would otherwise pay for each of them on every event).
    if (std::none_of(config.match.begin(), config.match.end(), [&](const std::string& p) {
          return is_glob(p) ? glob_match(p, name) : p == name;
        }))
      continue;
    auto info = read_iface(root, name);
    if (!info || !info->present) continue;  // gone meanwhile
    if (why_not_handled(config, *info).empty()) out.push_back(std::move(info).value());
  }
  std::sort(out.begin(), out.end(), [](const IfaceInfo& a, const IfaceInfo& b) {
    return std::pair(a.ifindex, a.name) < std::pair(b.ifindex, b.name);
  });
  return out;
}

unsigned online_cpus(const core::Root& root) {
  auto text = read_trimmed(root, core::paths::kSysCpuOnline);
  if (!text) return 1;
  unsigned count = 0;
  std::string_view rest = *text;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    auto dash = item.find('-');
    auto lo = number<unsigned>(item.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : number<unsigned>(item.substr(dash + 1));
    if (!lo || !hi || *hi < *lo) return std::max(count, 1u);
    count += *hi - *lo + 1;
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  return std::max(count, 1u);
}

std::string state_path(std::string_view name) {
  return std::string(core::paths::kIfaceStateDir) + "/" + std::string(name) + ".state";
}
std::string pid_path(std::string_view name) {
  return std::string(core::paths::kIfaceStateDir) + "/" + std::string(name) + ".pid";
}
std::string lease_path(std::string_view name) {
  return std::string(core::paths::kIfaceStateDir) + "/" + std::string(name) + ".leases";
}

core::Result<std::optional<State>> read_state(const core::Root& root, std::string_view name) {
  auto text = core::read_file_if_exists(root, state_path(name), 64 * 1024, core::Follow::never);
  if (!text) return std::move(text).error();
  if (!*text) return std::optional<State>();
  State s;
  std::string metric, attached;
  const std::pair<std::string_view, std::string*> keys[] = {
      {"BACKEND", &s.backend},
      {"DHCP", &s.dhcp},
      {"CLIENT", &s.client},
      {"UNIT", &s.unit},
      {"NETWORKD_FILE", &s.networkd_file},
      {"NM_CONNECTION", &s.nm_connection},
      {"METRIC", &metric},
      {"ATTACHED", &attached},
  };
  for (const auto& line : core::split_lines(**text)) {
    auto eq = line.find('=');
    if (eq == std::string::npos || line.front() == '#') continue;
    for (const auto& [key, target] : keys)
      if (line.compare(0, eq, key) == 0 && eq == key.size()) *target = line.substr(eq + 1);
  }
  s.metric = number<std::uint32_t>(metric).value_or(0);
  s.attached = attached == "yes";
  return std::optional<State>(std::move(s));
}

core::Status write_state(const core::Root& root, std::string_view name, const State& s_in) {
  State s = s_in;
  // An unreadable state is an error, never taken for none: `attached` would be lost.
  auto before = read_state(root, name);
  if (!before) return std::move(before).error();
  if (*before) s.attached = s.attached || (*before)->attached;
  std::string text =
      "# guestkit-iface: what was set up for " + std::string(name) + "; undone on remove\n";
  const auto put = [&](const char* key, const std::string& value) {
    if (!value.empty()) text += std::string(key) + "=" + value + "\n";
  };
  put("BACKEND", s.backend);
  put("DHCP", s.dhcp);
  put("CLIENT", s.client);
  put("UNIT", s.unit);
  put("NETWORKD_FILE", s.networkd_file);
  put("NM_CONNECTION", s.nm_connection);
  if (s.metric) put("METRIC", std::to_string(s.metric));
  if (s.attached) put("ATTACHED", "yes");
  core::WriteOptions wo;
  wo.create_parents = true;
  wo.parent_mode = 0755;
  wo.follow = core::Follow::never;
  wo.durable = false;  // /run: a crash erases it anyway
  return core::write_file_atomic(root, state_path(name), text, wo);
}

core::Result<bool> remove_state(const core::Root& root, std::string_view name) {
  bool removed = false;
  for (const auto& guest : {state_path(name), pid_path(name), lease_path(name)}) {
    auto parent = root.open_parent(guest, core::Follow::never);
    if (!parent) {
      if (parent.error().code == std::errc::no_such_file_or_directory) continue;
      return std::move(parent).error();
    }
    if (::unlinkat(parent->dir.get(), parent->leaf.c_str(), 0) == 0) {
      removed = true;
    } else if (errno != ENOENT) {
      return core::errno_error("remove " + root.display(guest));
    }
  }
  return removed;
}

core::Result<std::vector<std::string>> state_names(const core::Root& root) {
  auto names = root.list_dir(core::paths::kIfaceStateDir, core::Follow::never);
  if (!names) return std::move(names).error();
  std::vector<std::string> out;
  for (const auto& n : *names) {
    if (!n.ends_with(".state")) continue;
    auto name = n.substr(0, n.size() - 6);
    if (check_iface_name(name)) out.push_back(name);
  }
  return out;
}

}  // namespace guestkit::plugins::iface
