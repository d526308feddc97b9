#pragma once
// Private to the config loader: the schema of guestkit.yml, written once and walked
// by two readers. visit_config() names every setting with the target type that says
// how its value is checked; the YAML reader (MapReader, config_yaml.cpp) decodes a
// file against it, and the cache codec (config_cache.cpp) writes and reads back a
// validated Config. Adding a setting is one `field(...)` line here; adding a kind of
// value is one target type here (a struct whose `value` member is the setting) and one
// decode() overload in config_yaml.cpp. The cache encodes by the member's C++ type; a
// type it has never seen (not bool, string, list, duration, integer, double, switch
// map) needs an encode_value/decode_value pair there, or the build fails.
//
// A Reader has:
//   field(key, target)             one setting
//   section(key, body)             a nested map; body(reader) declares its keys
//   feature(key, bool&, [body])    a switchable feature: `key: false` or a map
//   finish()                       every key not asked for is an error

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.hpp"

namespace guestkit::core::detail {

// Targets that need more than their C++ type says.
template <class E>
struct Choice {  // one of a fixed set of names
  E& value;
  std::span<const std::pair<std::string_view, E>> names;
};
struct Ratio {  // a non-negative decimal number: 3, 2.5
  double& value;
};
struct AbsolutePath {
  std::string& value;
};
struct Duration {  // strictly positive
  std::chrono::milliseconds& value;
};
struct PluginSwitches {
  std::map<std::string, bool>& value;
};
struct Keyword {  // a string that must be one of a fixed set of words
  std::string& value;
  std::vector<std::string_view> allowed;
};
struct Integer {  // a decimal integer in [min, max]
  std::uint32_t& value;
  std::uint32_t min;
  std::uint32_t max;
};
struct FileMode {
  unsigned& value;
};
struct DevicePath {  // "" or an absolute path under /dev
  std::string& value;
};
struct ZoneName {  // "" or a tz database name: Europe/Paris, UTC, Etc/GMT+5
  std::string& value;
};
struct PeerList {  // addresses, CIDRs ("10.0.0.0/8", "fd00::/8"), "unix", "vsock", "virtio", "serial"
  std::vector<std::string>& value;
};

// The schema of guestkit.yml: every key, and the target its value goes into.
template <class Reader>
void visit_config(Reader& top, Config& c) {
  top.section("plugins", [&](auto& m) {
    m.field("timeout", Duration{c.plugins.timeout});
    m.field("enabled", PluginSwitches{c.plugins.enabled});
  });
  top.field("hooks_dir", AbsolutePath{c.hooks_dir});
  top.field("legacy_hooks_dir", AbsolutePath{c.legacy_hooks_dir});
  top.section("agent", [&](auto& m) {
    m.field("key_file", AbsolutePath{c.agent.key_file});
    m.field("auth", Keyword{c.agent.auth, {"key", "none"}});
    m.field("allow_from", PeerList{c.agent.allow_from});
    m.field("max_message", Integer{c.agent.max_message, 1024, 16u << 20});
    m.field("read_timeout", Duration{c.agent.read_timeout});
    m.field("session_timeout", Duration{c.agent.session_timeout});
    m.field("retire_after_provision", c.agent.retire_after_provision);
  });
  top.section("boot", [&](auto& m) {
    m.field("plugin_timeout", Duration{c.boot.plugin_timeout});
    m.field("root_device", DevicePath{c.boot.root_device});
  });
  top.feature("disk", c.disk.enabled, [&](auto& m) {
    m.field("match", c.disk.match);
    m.field("ignore", c.disk.ignore);
    m.field("root", AbsolutePath{c.disk.root});
    m.field("mount_options", c.disk.mount_options);
    m.field("owner", c.disk.owner);
    m.field("group", c.disk.group);
    m.field("mode", FileMode{c.disk.mode});
    m.field("fsck", c.disk.fsck);
    m.field("grow", c.disk.grow);
    m.field("tool_timeout", Duration{c.disk.tool_timeout});
  });
  top.feature("iface", c.iface.enabled, [&](auto& m) {
    m.field("match", c.iface.match);
    m.field("no_dhcp", c.iface.no_dhcp);
    m.field("multiqueue", c.iface.multiqueue);
    m.field("backend",
            Keyword{c.iface.backend, {"auto", "networkd", "networkmanager", "ifupdown", "none"}});
    m.field("dhcp_client", Keyword{c.iface.dhcp_client, {"auto", "dhclient", "dhcpcd", "udhcpc"}});
    m.field("dhcp_timeout", Duration{c.iface.dhcp_timeout});
    m.field("default_route", Keyword{c.iface.default_route, {"first-public", "keep-all"}});
    // Leaves room for route_metric + ifindex below the kernel's 32-bit limit.
    m.field("route_metric", Integer{c.iface.route_metric, 0, 1u << 30});
    m.field("secondary_sysctls", c.iface.secondary_sysctls);
  });
  top.feature("motd", c.motd.enabled, [&](auto& m) { m.field("text", c.motd.text); });
  top.feature("swap", c.swap.enabled, [&](auto& m) { m.field("device", DevicePath{c.swap.device}); });
  top.feature("sysctl", c.sysctl.enabled);
  top.feature("grow_root", c.grow_root.enabled);
  top.feature("identity", c.identity.enabled);
  top.feature("console", c.console.enabled);
  top.feature("system_files", c.system_files.enabled);
  top.feature("cron", c.cron.enabled);
  top.feature("timezone", c.timezone.enabled, [&](auto& m) { m.field("zone", ZoneName{c.timezone.zone}); });
  top.feature("sshd", c.sshd.enabled, [&](auto& m) {
    m.field("permit_root_login",
            Keyword{c.sshd.permit_root_login, {"prohibit-password", "no", "forced-commands-only", "yes"}});
  });
  top.feature("ext_checks", c.ext_checks.enabled, [&](auto& m) {
    m.field("max_mount_count", Integer{c.ext_checks.max_mount_count, 1, 16000});
    m.field("interval_days", Integer{c.ext_checks.interval_days, 1, 3650});
  });
  top.feature("seed", c.seed.enabled, [&](auto& m) {
    m.field("device", DevicePath{c.seed.device});
    m.field("default_user", c.seed.default_user);
    m.field("load_drivers", c.seed.load_drivers);
  });
  top.feature("postboot", c.postboot.enabled, [&](auto& m) { m.field("timeout", Duration{c.postboot.timeout}); });
  top.feature("hostname", c.hostname.enabled);
  top.feature("nameserver", c.nameserver.enabled);
  top.feature("network", c.network.enabled);
  top.feature("cpu", c.cpu.enabled,
              [&](auto& m) { m.field("online_timeout", Duration{c.cpu.online_timeout}); });
  top.feature("memory", c.memory.enabled, [&](auto& m) {
    m.field("online_policy", Choice<MemoryPolicy>{c.memory.online_policy, kMemoryPolicyNames});
    m.field("movable_ratio", Ratio{c.memory.movable_ratio});
    m.field("ignore_auto_online", c.memory.ignore_auto_online);
  });
  top.finish();
}

}  // namespace guestkit::core::detail
