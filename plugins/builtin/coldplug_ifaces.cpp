// 30-coldplug-ifaces (boot stage "mount"): the interfaces present at boot get what a
// hotplugged one gets. Interfaces the image's own network configuration set up are
// left to it (20-dhcp-iface sees their address or their manager's claim).
//
// Under systemd each one is handed to its guestkit-iface@ unit, as udev hands a
// hotplugged one, and the stage goes on: waiting here for a lease held the config
// stage, and so sshd, for the whole DHCP exchange (5.7 s in the e2e guest), though
// nothing before sshd needs the network. Without systemd the stage does the work
// itself, as before.

#include "plugins/builtin/builtin.hpp"
#include "plugins/iface/backend.hpp"
#include "plugins/iface/coldplug.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> coldplug_ifaces(PluginContext& p) {
  const auto mode =
      iface::systemd_running(p.ctx.root) ? iface::ColdplugMode::units : iface::ColdplugMode::here;
  auto r = iface::coldplug_ifaces(p.ctx, mode);
  if (!r.failed.empty()) {
    std::string names;
    for (const auto& n : r.failed) names += (names.empty() ? "" : ", ") + n;
    return core::make_error(core::Errc::failed, "iface-add failed for " + names);
  }
  if (r.handled == 0) return Outcome::skipped;
  return r.changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::builtin
