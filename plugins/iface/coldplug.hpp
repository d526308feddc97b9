#pragma once
// guestkit-iface --coldplug (and the boot plugin 30-coldplug-ifaces): an iface-add
// event for every handled interface present now, which the runner or the helper's
// driver runs; --status: what guestkit manages.

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins::iface {

// How the interfaces present are set up.
//   here:  every one becomes an iface-add event for the caller to run (run_events in
//          plugins/runner.hpp: one interface after the other, each waiting for its
//          lease): guestkit-iface --coldplug, or a boot without systemd, where
//          nothing else would set them up.
//   units: each interface is handed to guestkit-iface@NAME.service, exactly as the
//          udev rule hands a hotplugged one (`systemctl --no-block start`), unless
//          that unit has set it up already this boot (its state in
//          /run/guestkit/iface: udev's own coldplug event started it): the unit
//          brings the link up, gets the lease, applies the default-route policy and
//          runs the hook, while the boot goes on. What needs the network waits for
//          network-online.target, which those units come before. An interface
//          whose unit cannot be started becomes an event, set up here instead.
enum class ColdplugMode { here, units };
// Waits until udevd's event queue is empty (core::paths::kUdevQueue gone) or TIMEOUT
// has passed; returns how long it waited, or nullopt on the timeout. A NIC present at
// boot exists as an interface only once udev has loaded its driver: systemd 257
// (Debian 13) runs `udevadm trigger` before udevd starts, so at the mount stage the
// coldplug events may still be queued, and the NIC would come after
// network-online.target instead of before it.
std::optional<std::chrono::milliseconds> wait_udev_queue(const core::Root& root,
                                                         std::chrono::milliseconds timeout);
// How long coldplug_ifaces waits for it (Debian's ifupdown-pre waits 120 s with
// `udevadm settle`; udev's queue of a VM's boot drains in a second with KVM).
inline constexpr std::chrono::seconds kUdevQueueTimeout{60};
struct ColdplugPlan {
  std::size_t handed = 0;        // interfaces handed to their units
  std::size_t already = 0;       // interfaces their units set up already this boot
  std::vector<EventRun> events;  // iface-add for each of the others, in order
};
// Fails only when the interfaces cannot be listed.
core::Result<ColdplugPlan> coldplug_ifaces(core::Context& ctx,
                                           ColdplugMode mode = ColdplugMode::here);
// The unit that sets one interface up under systemd (config/systemd/guestkit-iface@).
std::string iface_unit(std::string_view name);
// 30-coldplug-ifaces (boot stage "mount"): the above as a plugin, in units mode under
// systemd, here otherwise; the runner runs its events right after it.
core::Result<Outcome> coldplug_ifaces(PluginContext& p);

// One line per interface handled now or with state left: name, index, kind, what
// does its DHCP, IPv4 addresses and default routes (live system only).
int print_status(core::Context& ctx, std::ostream& out);

}  // namespace guestkit::plugins::iface
