// 30-coldplug-ifaces (boot stage "mount"): the interfaces present at boot get what a
// hotplugged one gets. Interfaces the image's own network configuration set up are
// left to it (20-dhcp-iface sees their address or their manager's claim).

#include "plugins/boot/boot.hpp"
#include "plugins/iface/coldplug.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> coldplug_ifaces(PluginContext& p) {
  auto r = iface::coldplug_ifaces(p.ctx);
  if (!r.failed.empty()) {
    std::string names;
    for (const auto& n : r.failed) names += (names.empty() ? "" : ", ") + n;
    return core::make_error(core::Errc::failed, "iface-add failed for " + names);
  }
  if (r.handled == 0) return Outcome::skipped;
  return r.changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::builtin
