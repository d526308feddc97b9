// 20-dhcp-iface: on add, hand the interface to the image's DHCP (systemd-networkd,
// NetworkManager, or a client guestkit runs) and wait for the lease; on remove,
// undo exactly what was done (plugins/iface/dhcp.hpp).

#include "plugins/boot/boot.hpp"
#include "plugins/iface/dhcp.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> dhcp_iface(PluginContext& p) {
  const std::string& name = p.args.at(0);
  if (p.trigger == "iface-remove") return iface::stop_dhcp(p.ctx, name);
  auto info = iface::read_iface(p.ctx.root, name);
  if (!info) return std::move(info).error();
  if (!info->present || !iface::why_not_handled(p.ctx.config.iface, *info).empty())
    return Outcome::skipped;
  return iface::start_dhcp(p.ctx, *info);
}

}  // namespace guestkit::plugins::builtin
