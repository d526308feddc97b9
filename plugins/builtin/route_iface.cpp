// 30-route-iface: the default-route policy (plugins/iface/route_policy.hpp).
//
// After every add: the default routes the policy drops are deleted at once through
// netlink; where a route came from guestkit's own networkd file or NetworkManager
// connection, that is told to stop installing it, so a renewal does not bring it
// back. Each drop is remembered in the interface's state file.
//
// After every remove: if no handled interface has a default route any more (the one
// that kept it is gone), the best interface whose route was dropped gets it back,
// the same way it was taken.

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

namespace nl = core::netlink;

struct Live {
  std::set<int> indexes;
  std::map<int, std::string> names;
  std::vector<nl::Ipv4Address> addresses;
  std::vector<nl::Ipv4Route> routes;
};

core::Result<Live> gather(const core::Context& ctx) {
  Live live;
  auto handled = iface::handled_ifaces(ctx.root, ctx.config.iface);
  if (!handled) return std::move(handled).error();
  for (const auto& h : *handled) {
    live.indexes.insert(h.ifindex);
    live.names[h.ifindex] = h.name;
  }
  auto addresses = nl::list_ipv4_addresses();
  if (!addresses) return std::move(addresses).error();
  live.addresses = std::move(addresses).value();
  auto routes = nl::list_ipv4_routes();
  if (!routes) return std::move(routes).error();
  live.routes = std::move(routes).value();
  return live;
}

// Tells the manager that installs the interface's default route to stop (`use` false)
// or start again (`use` true). A failure is logged, not fatal: the route itself is
// handled through netlink either way.
void tell_manager(const core::Context& ctx, const std::string& name, const iface::State& s,
                  bool use) {
  core::Status done;
  if (s.dhcp == "networkd" && !s.networkd_file.empty()) {
    core::WriteOptions wo;
    wo.follow = core::Follow::never;
    wo.durable = false;
    auto w = core::write_file_if_changed(ctx.root, s.networkd_file,
                                         iface::networkd_file(name, s.metric, use), wo);
    done = w ? iface::command(ctx, {"networkctl", "reconfigure", name}) : core::Status(w.error());
  } else if (s.dhcp == "nm" && !s.nm_connection.empty()) {
    done = iface::command(ctx, {"nmcli", "connection", "modify", s.nm_connection,
                                "ipv4.never-default", use ? "no" : "yes"});
    if (done) done = iface::command(ctx, {"nmcli", "device", "reapply", name});
  }
  if (!done) core::log_warning(name, ": ", done.error().message(), ", ignoring");
}

core::Result<Outcome> apply_policy(const core::Context& ctx) {
  auto live = gather(ctx);
  if (!live) return std::move(live).error();
  auto decision = iface::decide_default_routes(live->indexes, live->addresses, live->routes);
  core::log_debug("default route: ", decision.why);
  for (const auto& r : decision.remove) {
    const std::string& name = live->names[r.ifindex];
    auto state = iface::read_state(ctx.root, name);
    iface::State s = state && *state ? **state : iface::State{};
    tell_manager(ctx, name, s, false);
    auto d = nl::delete_route(r);
    // ESRCH: the manager we just told dropped it first.
    if (!d && d.error().code != std::errc::no_such_process) return std::move(d).error();
    if (r.gateway) {
      s.removed_gateway = r.gateway->str();
      s.removed_metric = r.priority;
      if (auto w = iface::write_state(ctx.root, name, s); !w) return std::move(w).error();
    }
    core::log_info(name, ": removed the default route", r.gateway ? " via " + r.gateway->str() : "",
                   " (", decision.why, ")");
  }
  return decision.remove.empty() ? Outcome::unchanged : Outcome::changed;
}

core::Result<Outcome> restore(const core::Context& ctx) {
  auto live = gather(ctx);
  if (!live) return std::move(live).error();
  std::set<int> removed;
  std::map<int, iface::State> states;
  for (const auto& [index, name] : live->names) {
    auto state = iface::read_state(ctx.root, name);
    if (state && *state && !(*state)->removed_gateway.empty()) {
      removed.insert(index);
      states[index] = **state;
    }
  }
  const int index = iface::choose_restore(live->indexes, removed, live->addresses, live->routes);
  if (index == 0) return Outcome::unchanged;
  const std::string& name = live->names[index];
  iface::State s = states[index];
  tell_manager(ctx, name, s, true);
  nl::Ipv4Route route;
  route.ifindex = index;
  route.gateway = nl::Ipv4::parse(s.removed_gateway);
  route.priority = s.removed_metric;
  route.table = nl::kMainTable;
  if (!route.gateway)
    return core::make_error(core::Errc::bad_input, "gateway '" + s.removed_gateway + "'");
  auto added = nl::add_route(route);
  // EEXIST: the manager we just told put it back first.
  if (!added && added.error().code != std::errc::file_exists) return std::move(added).error();
  s.removed_gateway.clear();
  s.removed_metric = 0;
  if (auto w = iface::write_state(ctx.root, name, s); !w) return std::move(w).error();
  core::log_info(name, ": default route via ", route.gateway->str(),
                 " restored (no other interface has one now)");
  return Outcome::changed;
}

}  // namespace

core::Result<Outcome> route_iface(PluginContext& p) {
  const auto& cfg = p.ctx.config.iface;
  if (cfg.default_route == "keep-all") return Outcome::skipped;
  const bool remove = p.trigger == "iface-remove";
  // A container's veth going away is no reason to look at default routes.
  if (remove && !iface::name_matches(cfg, p.args.at(0))) return Outcome::skipped;
  if (!remove) {
    auto info = iface::read_iface(p.ctx.root, p.args.at(0));
    if (!info) return std::move(info).error();
    if (!info->present || !iface::why_not_handled(cfg, *info).empty()) return Outcome::skipped;
  }
  if (!iface::live(p.ctx)) {
    p.ctx.would(remove
                    ? "give a default route back if no interface has one any more"
                    : "keep one IPv4 default route, via the first interface with a public address");
    return Outcome::skipped;
  }
  return remove ? restore(p.ctx) : apply_policy(p.ctx);
}

}  // namespace guestkit::plugins::builtin
