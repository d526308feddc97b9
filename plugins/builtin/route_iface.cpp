// 30-route-iface: the default-route policy (plugins/iface/route_policy.hpp), after
// every add. The routes it drops are deleted at once through netlink; where the
// route came from guestkit's own networkd file or NetworkManager connection, that is
// told to stop installing it too, so the next renewal does not bring it back.

#include <map>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/netlink.hpp"
#include "plugins/builtin/builtin.hpp"
#include "plugins/iface/backend.hpp"
#include "plugins/iface/dhcp.hpp"
#include "plugins/iface/route_policy.hpp"

namespace guestkit::plugins::builtin {
namespace {

// Keeps a manager from re-adding the route we drop. A failure is not fatal: the
// route is gone now either way.
void tell_manager(const core::Context& ctx, const std::string& name) {
  auto state = iface::read_state(ctx.root, name);
  if (!state || !*state) return;
  const auto& s = **state;
  core::Status done;
  if (s.dhcp == "networkd" && !s.networkd_file.empty()) {
    core::WriteOptions wo;
    wo.follow = core::Follow::never;
    wo.durable = false;
    auto w = core::write_file_if_changed(ctx.root, s.networkd_file,
                                         iface::networkd_file(name, s.metric, false), wo);
    done = w ? iface::command(ctx, {"networkctl", "reconfigure", name}) : core::Status(w.error());
  } else if (s.dhcp == "nm" && !s.nm_connection.empty()) {
    done = iface::command(
        ctx, {"nmcli", "connection", "modify", s.nm_connection, "ipv4.never-default", "yes"});
  }
  if (!done) core::log_warning(name, ": ", done.error().message(), ", ignoring");
}

}  // namespace

core::Result<Outcome> route_iface(PluginContext& p) {
  const auto& cfg = p.ctx.config.iface;
  if (cfg.default_route == "keep-all") return Outcome::skipped;
  auto info = iface::read_iface(p.ctx.root, p.args.at(0));
  if (!info) return std::move(info).error();
  if (!info->present || !iface::why_not_handled(cfg, *info).empty()) return Outcome::skipped;
  if (!iface::live(p.ctx)) {
    p.ctx.would("keep one IPv4 default route, via the first interface with a public address");
    return Outcome::skipped;
  }
  auto handled = iface::handled_ifaces(p.ctx.root, cfg);
  if (!handled) return std::move(handled).error();
  std::set<int> indexes;
  std::map<int, std::string> names;
  for (const auto& h : *handled) {
    indexes.insert(h.ifindex);
    names[h.ifindex] = h.name;
  }
  auto addresses = core::netlink::list_ipv4_addresses();
  if (!addresses) return std::move(addresses).error();
  auto routes = core::netlink::list_ipv4_routes();
  if (!routes) return std::move(routes).error();

  auto decision = iface::decide_default_routes(indexes, *addresses, *routes);
  core::log_debug("default route: ", decision.why);
  for (const auto& r : decision.remove) {
    const std::string& name = names[r.ifindex];
    tell_manager(p.ctx, name);
    auto d = core::netlink::delete_route(r);
    // ESRCH: the manager we just told dropped it first.
    if (!d && d.error().code != std::errc::no_such_process) return std::move(d).error();
    core::log_info(name, ": removed the default route ", r.gateway ? "via " + r.gateway->str() : "",
                   " (", decision.why, ")");
  }
  return decision.remove.empty() ? Outcome::unchanged : Outcome::changed;
}

}  // namespace guestkit::plugins::builtin
