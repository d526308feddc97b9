#pragma once
// guestkit-iface, the shared part: which interfaces are ours (iface.match), what
// sysfs says about one, and the small state file that remembers what guestkit did
// to it so that a remove undoes exactly that. Everything goes through Root, so the
// decisions are testable on a fake /sys.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/context.hpp"
#include "core/result.hpp"
#include "core/root.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins::iface {

// An interface name guestkit accepts: a valid Linux name made of [A-Za-z0-9._-] that
// starts with a letter or digit. It becomes part of file, lock and unit names
// (guestkit-dhcp@NAME.service), so nothing needing escaping gets through.
core::Result<std::string> check_iface_name(const std::string& name);

// What /sys/class/net/<name> says.
struct IfaceInfo {
  std::string name;
  bool present = false;
  int ifindex = 0;
  unsigned type = 0;        // ARPHRD_*: 1 Ethernet, 772 loopback
  std::string devtype;      // uevent DEVTYPE: bridge, bond, vlan, wlan... ("" for a NIC)
  bool has_device = false;  // backed by a device (virtio, xen, PCI), not a virtual one
  bool is_tun = false;      // tun/tap
  std::string driver;       // virtio_net, xen-netfront, e1000... ("" if virtual)

  // "ethernet", "veth or other virtual", "bridge", "tun/tap"...
  std::string kind() const;
};
core::Result<IfaceInfo> read_iface(const core::Root& root, std::string_view name);

bool is_glob(std::string_view pattern);
bool glob_match(std::string_view pattern, std::string_view name);

// Whether some pattern of iface.match takes the name (globs or exact); lo never.
// The whole answer for an interface already gone, as on remove.
bool name_matches(const core::IfaceConfig& config, std::string_view name);

// Why the interface is not handled ("" when it is): lo never; a name listed exactly
// in iface.match always; a glob only for an Ethernet NIC backed by a device.
std::string why_not_handled(const core::IfaceConfig& config, const IfaceInfo& info);
// iface.no_dhcp (names or globs).
bool is_no_dhcp(const core::IfaceConfig& config, std::string_view name);

// The handled interfaces present now, by interface index (the order they arrived).
core::Result<std::vector<IfaceInfo>> handled_ifaces(const core::Root& root,
                                                    const core::IfaceConfig& config);

// Online CPUs from /sys/devices/system/cpu/online ("0-3,6"); 1 when unreadable.
unsigned online_cpus(const core::Root& root);

// What guestkit did to an interface, in /run/guestkit/iface/<name>.state: an undo
// record (plugins/undo_record.hpp, JSON; the KEY=VALUE of older versions is still read
// and becomes JSON at the next write). Damage is an error naming the file.
struct State {
  std::string backend;        // networkd, networkmanager, ifupdown, none
  std::string dhcp;           // off (no_dhcp), external (someone else's), client, networkd, nm
  std::string client;         // dhclient, dhcpcd, udhcpc (dhcp=client)
  std::string unit;           // guestkit-dhcp@<name>.service when run under systemd
  std::string networkd_file;  // our .network file (dhcp=networkd)
  std::string nm_connection;  // our NetworkManager connection (dhcp=nm)
  std::uint32_t metric = 0;   // route metric given to the DHCP routes
  bool attached = false;      // post-iface-attach ran: once per attachment
  // (The default routes the route policy removed are in its own record,
  // plugins/iface/route_record.hpp, not here.)
};
std::string state_path(std::string_view name);
std::string pid_path(std::string_view name);
std::string lease_path(std::string_view name);
core::Result<std::optional<State>> read_state(const core::Root& root, std::string_view name);
// Writes the state; `attached` is kept from the file already there, if any.
core::Status write_state(const core::Root& root, std::string_view name, const State& state);
// Removes the state, pid and lease files; true when there was something to remove.
core::Result<bool> remove_state(const core::Root& root, std::string_view name);
// Names of the interfaces that have a state file.
core::Result<std::vector<std::string>> state_names(const core::Root& root);

// Live changes (links, routes, processes, services) only on the real system and
// never in dry-run; otherwise plugins report what they would do.
inline bool live(const core::Context& ctx) {
  return ctx.root.is_host() && !ctx.dry_run;
}

// The iface plugins (registry_iface.cpp), one file each but for the hooks and DHCP;
// 30-coldplug-ifaces is in coldplug.hpp.
core::Result<Outcome> up_iface(PluginContext& p);           // 10-up-iface (up_iface.cpp)
core::Result<Outcome> dhcp_iface(PluginContext& p);         // 20-dhcp-iface (dhcp.cpp)
core::Result<Outcome> route_iface(PluginContext& p);        // 30-route-iface (route_iface.cpp)
core::Result<Outcome> tune_iface(PluginContext& p);         // 40-tune-iface (tune_iface.cpp)
core::Result<Outcome> hook_attach_iface(PluginContext& p);  // 90-hook-attach-iface (hook_iface.cpp)
core::Result<Outcome> hook_detach_iface(PluginContext& p);  // 10-hook-detach-iface (hook_iface.cpp)

}  // namespace guestkit::plugins::iface
