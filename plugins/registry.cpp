#include <algorithm>
#include <cctype>

#include "plugins/builtin/builtin.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {

namespace {

// Every built-in plugin, one row each. Numbers are stable: users order their own
// plugins relative to them. Keep the rows sorted by name.
constexpr BuiltinPlugin kBuiltins[] = {
    {"10-coldplug-disks", "mount", "disk", false,
     "mount the data disks present at boot, drop records of vanished ones", &builtin::coldplug_disks},
    {"10-grow-disk", "disk-change", "disk", false, "grow the filesystem of a resized data disk",
     &builtin::grow_disk},
    {"10-hook-iface", "iface-remove", "iface", false,
     "run the pre-iface-detach hook of an interface guestkit handled", &builtin::hook_detach_iface},
    {"10-mount-disk", "disk-add", "disk", false,
     "mount a data disk at <disk.root>/<label>, then run post-disk-attach", &builtin::mount_disk},
    {"10-online-cpu", "cpu-add", "cpu", false, "brings a hot-added vCPU online",
     &builtin::online_cpu},
    {"10-online-memory", "memory-add", "memory", false,
     "brings a hot-added memory block online (memory.online_policy)", &builtin::online_memory},
    {"10-up-iface", "iface-add", "iface", false, "bring up the link of a handled interface",
     &builtin::up_iface},
    {"13-set-motd", "config", "motd", false,
     "message of the day: /etc/motd, or a script in /etc/update-motd.d/", &builtin::set_motd},
    {"20-coldplug-cpus", "mount", "cpu", false, "brings every offline hotpluggable vCPU online",
     &builtin::coldplug_cpus},
    {"20-dhcp-iface", "iface-add iface-remove", "iface", false,
     "DHCP through networkd, NetworkManager or a client; undone on remove", &builtin::dhcp_iface},
    {"21-coldplug-memory", "mount", "memory", false,
     "brings every offline memory block online (memory.online_policy)", &builtin::coldplug_memory},
    {"30-coldplug-ifaces", "mount", "iface", false,
     "the iface-add plugins for every handled interface present at boot", &builtin::coldplug_ifaces},
    {"30-route-iface", "iface-add iface-remove", "iface", false,
     "one IPv4 default route, via the first interface with a public address", &builtin::route_iface},
    {"40-tune-iface", "iface-add", "iface", false,
     "ARP/rp_filter sysctls on secondary interfaces, virtio-net queues", &builtin::tune_iface},
    {"90-hook-iface", "iface-add", "iface", false, "run the post-iface-attach hook",
     &builtin::hook_attach_iface},
    // 90: external disk-remove plugins numbered below run first, while the data is there.
    {"90-unmount-disk", "disk-remove", "disk", false,
     "pre-disk-detach, stop the disk's services, unmount, remove the mountpoint", &builtin::unmount_disk},
};

}  // namespace

std::span<const BuiltinPlugin> builtin_plugins() { return kBuiltins; }

bool BuiltinPlugin::serves(std::string_view trigger) const {
  std::string_view rest = triggers;
  while (!rest.empty()) {
    auto space = rest.find(' ');
    if (rest.substr(0, space) == trigger) return true;
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  return false;
}

bool is_trigger(std::string_view name) {
  return std::find(std::begin(kTriggers), std::end(kTriggers), name) != std::end(kTriggers);
}

bool is_boot_stage(std::string_view name) {
  return std::find(std::begin(kBootStages), std::end(kBootStages), name) != std::end(kBootStages);
}

bool valid_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || !std::isalnum(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

}  // namespace guestkit::plugins
