// Network interfaces: guestkit-iface links only these.
// Rows sorted by name; numbers are stable (users order their own plugins by them).

#include "plugins/iface/coldplug.hpp"
#include "plugins/iface/iface.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {
namespace {

constexpr BuiltinPlugin kTable[] = {
    {"10-hook-detach-iface", "iface-remove", "iface", false,
     "run the pre-iface-detach hook of an interface guestkit handled", &iface::hook_detach_iface},
    {"10-up-iface", "iface-add", "iface", false, "bring up the link of a handled interface",
     &iface::up_iface},
    {"20-dhcp-iface", "iface-add iface-remove", "iface", false,
     "DHCP through networkd, NetworkManager or a client; undone on remove", &iface::dhcp_iface},
    {"30-coldplug-ifaces", "mount", "iface", false,
     "the iface-add plugins for every handled interface present at boot", &iface::coldplug_ifaces},
    {"30-route-iface", "iface-add iface-remove", "iface", false,
     "one IPv4 default route, via the first interface with a public address", &iface::route_iface},
    {"40-tune-iface", "iface-add", "iface", false,
     "ARP/rp_filter sysctls on secondary interfaces, virtio-net queues", &iface::tune_iface},
    {"90-hook-attach-iface", "iface-add", "iface", false, "run the post-iface-attach hook",
     &iface::hook_attach_iface},
};

}  // namespace

std::span<const BuiltinPlugin> iface_plugins() { return kTable; }

}  // namespace guestkit::plugins
