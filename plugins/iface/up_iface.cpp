// 10-up-iface: bring a handled interface's link up.
//
// Also where an add is told apart from the interfaces guestkit leaves alone: the
// reason is logged once here, and every later iface plugin skips quietly.
//
// Not when NetworkManager runs: it brings a device's link up itself when it activates
// a connection on it (its own, or guestkit's: 20-dhcp-iface), and a device it finds
// already up when it first looks at it is "assumed" as configured by somebody else
// (sys-iface-state external): it then never runs DHCP on it. At boot NetworkManager
// is started (its bus name taken) seconds before it enumerates the devices, so the
// boot NIC came up unleased whenever guestkit-iface@ got there first
// (e2e.net-nm-guestkit-route, seen in a CI run).

#include <chrono>
#include <thread>

#include "core/log.hpp"
#include "core/netdev.hpp"
#include "plugins/iface/backend.hpp"
#include "plugins/iface/iface.hpp"

namespace guestkit::plugins::iface {

core::Result<Outcome> up_iface(PluginContext& p) {
  const std::string& name = p.args.at(0);
  auto info = iface::read_iface(p.ctx.root, name);
  if (!info) return std::move(info).error();
  if (!info->present) {
    core::log_info(name, ": no such interface (gone already?), ignoring");
    return Outcome::skipped;
  }
  if (auto why = iface::why_not_handled(p.ctx.config.iface, *info); !why.empty()) {
    core::log_info(name, ": not handled: ", why);
    return Outcome::skipped;
  }
  auto backend = iface::detect_backend(p.ctx.root, p.ctx.config.iface);
  if (!backend) return std::move(backend).error();
  if (backend->backend == iface::Backend::networkmanager) {
    core::log_info(name, ": link left to NetworkManager (", backend->why, ")");
    return Outcome::unchanged;
  }
  if (!iface::live(p.ctx)) {
    p.ctx.would("bring up the link of " + name);
    return Outcome::changed;
  }
  auto up = core::netdev::set_link_up(name);
  if (!up) {
    // Old Xen netfront kernels refused the first try while the backend connected.
    core::log_debug(name, ": ", up.error().message(), ", retrying once");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    up = core::netdev::set_link_up(name);
    if (!up) return std::move(up).error();
  }
  return *up ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::iface
