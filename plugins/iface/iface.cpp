#include "plugins/iface/iface.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/udev_device.hpp"
#include "core/udev_event.hpp"
#include "plugins/sysfs.hpp"
#include "plugins/undo_record.hpp"

namespace guestkit::plugins::iface {
namespace {

constexpr unsigned kArphrdEther = 1;
constexpr unsigned kArphrdLoopback = 772;

std::string trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return std::string(s);
}

// A decimal attribute or state value, checked (sysfs::parse_u64) and in T's range.
template <class T>
std::optional<T> number(std::string_view text) {
  const auto v = sysfs::parse_u64(trim(text));
  if (!v || *v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return std::nullopt;
  return static_cast<T>(*v);
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
  auto attrs = sysfs::Dir::open(root, dir, core::Follow::in_root);
  if (!attrs) {
    if (attrs.error().code == std::errc::no_such_file_or_directory) return info;
    return std::move(attrs).error();
  }
  info.present = true;
  const auto read = [&](std::string_view attr) -> std::optional<std::string> {
    auto v = attrs->read(attr);
    return v && *v ? std::move(*v) : std::nullopt;
  };
  if (auto v = read("ifindex")) info.ifindex = number<int>(*v).value_or(0);
  if (auto v = read("type")) info.type = number<unsigned>(*v).value_or(0);
  if (auto v = read("uevent")) {
    auto props = core::parse_uevent(*v);
    if (auto it = props.find("DEVTYPE"); it != props.end()) info.devtype = it->second;
  }
  struct stat st {};
  info.has_device = ::fstatat(attrs->fd(), "device", &st, AT_SYMLINK_NOFOLLOW) == 0;
  info.is_tun = ::fstatat(attrs->fd(), "tun_flags", &st, AT_SYMLINK_NOFOLLOW) == 0;
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
  auto text = sysfs::read_attr(root, core::paths::kSysCpuOnline, core::Follow::in_root);
  if (!text || !*text) return 1;
  // A malformed list counts what it held before the fault, as it always did.
  unsigned count = 0;
  std::string_view rest = **text;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto ranges = sysfs::parse_ranges(rest.substr(0, comma));
    if (!ranges || ranges->empty()) return std::max(count, 1u);
    count += ranges->front().second - ranges->front().first + 1;
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

namespace {

constexpr std::string_view kStateWhat = "guestkit-iface state";

// The string members of State: their key in the record, and in the KEY=VALUE state of
// older versions.
struct StateField {
  const char* key;
  std::string_view legacy;
  std::string State::*member;
};
constexpr StateField kStateFields[] = {
    {"backend", "BACKEND", &State::backend},
    {"dhcp", "DHCP", &State::dhcp},
    {"client", "CLIENT", &State::client},
    {"unit", "UNIT", &State::unit},
    {"networkd_file", "NETWORKD_FILE", &State::networkd_file},
    {"nm_connection", "NM_CONNECTION", &State::nm_connection},
};

// The KEY=VALUE state of guestkit-iface before 2026-12 (read so that an update under a
// running system still undoes what the old version set up; the next write makes it
// JSON): "# comment" lines and KEY=VALUE lines, keys in capitals; keys this version
// does not know (REMOVED_GATEWAY, once) are passed over, as the old reader did.
core::Result<nlohmann::json> legacy_state(std::string_view text) {
  nlohmann::json j = nlohmann::json::object();
  int line_no = 0;
  for (const auto& line : core::split_lines(text)) {
    ++line_no;
    const auto bad = [&](std::string_view why) {
      return core::make_error(core::Errc::bad_input, std::to_string(line_no) + ": damaged " +
                                                         std::string(kStateWhat) + " (" +
                                                         std::string(why) + ")");
    };
    if (line.empty() || line.front() == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0 ||
        !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(eq),
                     [](char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }))
      return bad("neither JSON nor KEY=VALUE");
    const std::string_view key(line.data(), eq);
    const std::string value = line.substr(eq + 1);
    for (const auto& f : kStateFields)
      if (key == f.legacy) j[f.key] = value;
    if (key == "METRIC") {
      auto metric = number<std::uint32_t>(value);
      if (!metric) return bad("METRIC is not a route metric");
      j["metric"] = *metric;
    }
    if (key == "ATTACHED") j["attached"] = value == "yes";
  }
  return j;
}

}  // namespace

core::Result<std::optional<State>> read_state(const core::Root& root, std::string_view name) {
  const std::string path = state_path(name);
  auto record = undo::read(root, path, kStateWhat, legacy_state);
  if (!record) return std::move(record).error();
  if (!*record) return std::optional<State>();
  const nlohmann::json& j = **record;
  State s;
  for (const auto& f : kStateFields) s.*f.member = undo::text(j, f.key);
  if (const auto it = j.find("metric"); it != j.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > UINT32_MAX)
      return core::make_error(core::Errc::bad_input, root.display(path) + ": damaged " +
                                                         std::string(kStateWhat) +
                                                         " (metric is not a route metric)");
    s.metric = it->get<std::uint32_t>();
  }
  if (const auto it = j.find("attached"); it != j.end())
    s.attached = it->is_boolean() && it->get<bool>();
  return std::optional<State>(std::move(s));
}

core::Status write_state(const core::Root& root, std::string_view name, const State& s_in) {
  State s = s_in;
  // An unreadable state is an error, never taken for none: `attached` would be lost.
  auto before = read_state(root, name);
  if (!before) return std::move(before).error();
  if (*before) s.attached = s.attached || (*before)->attached;
  nlohmann::json j{{"interface", std::string(name)}};
  for (const auto& f : kStateFields)
    if (!(s.*f.member).empty()) j[f.key] = s.*f.member;
  if (s.metric) j["metric"] = s.metric;
  j["attached"] = s.attached;
  return undo::write(root, state_path(name), j);
}

core::Result<bool> remove_state(const core::Root& root, std::string_view name) {
  bool removed = false;
  for (const auto& guest : {state_path(name), pid_path(name), lease_path(name)}) {
    auto gone = undo::remove(root, guest);
    if (!gone) return std::move(gone).error();
    removed = removed || *gone;
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
