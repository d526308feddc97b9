// 30-route-iface: the default-route policy (plugins/iface/route_policy.hpp).
//
// After every add: the default routes the policy drops are deleted at once through
// netlink; where a route came from guestkit's own networkd file or NetworkManager
// connection, that is told to stop installing it, so a renewal does not bring it
// back. Each drop is remembered in /run/guestkit/iface/default-routes
// (plugins/iface/route_record.hpp). Gathering the state, deciding, changing the
// routes and recording happen under the one lock iface:routes, whichever interface's
// event runs the policy.
//
// After every remove: if no handled interface has a default route any more (the one
// that kept it is gone), the best interface whose route was dropped gets it back,
// the same way it was taken.

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/lock.hpp"
#include "core/log.hpp"
#include "core/netlink.hpp"
#include "plugins/iface/backend.hpp"
#include "plugins/iface/dhcp.hpp"
#include "plugins/iface/route_policy.hpp"
#include "plugins/iface/route_record.hpp"

namespace guestkit::plugins::iface {
namespace {

namespace nl = core::netlink;

// The policy's work under the lock is a few netlink calls and at most a networkctl
// or nmcli run per interface; another event waits for it.
constexpr auto kRoutesLockWait = std::chrono::seconds(90);

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
  const auto change = [&](const std::vector<std::string>& argv) -> core::Status {
    auto r = core::run_tool(ctx, core::ToolEffect::changes_live, argv);
    if (!r) return std::move(r).error();
    return {};
  };
  if (s.dhcp == "networkd" && !s.networkd_file.empty()) {
    core::WriteOptions wo;
    wo.follow = core::Follow::never;
    wo.durable = false;
    auto w = core::write_file_if_changed(ctx.root, s.networkd_file,
                                         iface::networkd_file(name, s.metric, use), wo);
    done = w ? change({"networkctl", "reconfigure", name}) : core::Status(w.error());
  } else if (s.dhcp == "nm" && !s.nm_connection.empty()) {
    // --temporary: a plain modify writes the in-memory connection to
    // /etc/NetworkManager/system-connections/ (seen in the e2e guest), where it would
    // outlive the NIC's state across a reboot.
    done = change({"nmcli", "connection", "modify", "--temporary", s.nm_connection,
                                "ipv4.never-default", use ? "no" : "yes"});
    if (done) done = change({"nmcli", "device", "reapply", name});
  }
  if (!done) core::log_warning(name, ": ", done.error().message(), ", ignoring");
}

// The record's entries for interfaces handled here now, under the same name and
// index; the others (gone, renamed, no longer matched) are dropped.
std::vector<iface::RemovedRoute> current(const std::vector<iface::RemovedRoute>& record,
                                         const Live& live) {
  std::vector<iface::RemovedRoute> out;
  for (const auto& r : record) {
    auto it = live.names.find(r.ifindex);
    if (it != live.names.end() && it->second == r.name) out.push_back(r);
  }
  return out;
}

// What both directions start from, read under the routes lock (held until it goes):
// the live interfaces and routes, the record of default routes removed, and that
// record's entries still valid now (`kept`, to be saved when it differs).
struct Snapshot {
  core::Lock lock;
  Live live;
  std::vector<iface::RemovedRoute> record, kept;
};

core::Result<Snapshot> snapshot(const core::Context& ctx) {
  auto lock = core::Lock::acquire(ctx.root, iface::kRoutesLock, kRoutesLockWait);
  if (!lock) return std::move(lock).error();
  auto live = gather(ctx);
  if (!live) return std::move(live).error();
  auto record = iface::read_removed_routes(ctx.root);
  if (!record) return std::move(record).error();
  auto kept = current(*record, *live);
  return Snapshot{std::move(lock).value(), std::move(live).value(), std::move(record).value(),
                  std::move(kept)};
}

core::Result<Outcome> apply_policy(const core::Context& ctx) {
  // Gather, decide, change and record under one lock: the policy of another
  // interface's event must see what this one did, never a state from before it.
  auto snap = snapshot(ctx);
  if (!snap) return std::move(snap).error();
  Live& live = snap->live;
  auto& kept = snap->kept;
  auto decision = iface::decide_default_routes(live.indexes, live.addresses, live.routes);
  core::log_debug("default route: ", decision.why);
  // Every state needed is read before anything changes: one that cannot be read
  // stops the policy here rather than passing for "not ours".
  std::map<int, std::optional<iface::State>> states;
  for (const auto& r : decision.remove) {
    if (states.count(r.ifindex)) continue;
    auto state = iface::read_state(ctx.root, live.names[r.ifindex]);
    if (!state) return std::move(state).error();
    states[r.ifindex] = std::move(state).value();
  }

  std::optional<core::Error> failed;
  for (const auto& r : decision.remove) {
    const std::string& name = live.names[r.ifindex];
    if (const auto& s = states[r.ifindex]) tell_manager(ctx, name, *s, false);
    auto d = nl::delete_route(r);
    // ESRCH: the manager we just told dropped it first.
    if (!d && d.error().code != std::errc::no_such_process) {
      failed = d.error();
      break;  // what was removed so far is still recorded below
    }
    if (r.gateway) {
      // One entry per interface: the route it would get back, the lowest metric.
      auto same = std::find_if(kept.begin(), kept.end(),
                               [&](const auto& k) { return k.ifindex == r.ifindex; });
      iface::RemovedRoute entry{name, r.ifindex, *r.gateway, r.priority};
      if (same == kept.end())
        kept.push_back(entry);
      else if (r.priority <= same->metric)
        *same = entry;
    }
    core::log_info(name, ": removed the default route", r.gateway ? " via " + r.gateway->str() : "",
                   " (", decision.why, ")");
  }
  if (kept != snap->record) {
    if (auto w = iface::write_removed_routes(ctx.root, kept); !w) return std::move(w).error();
  }
  if (failed) return std::move(*failed);
  return decision.remove.empty() ? Outcome::unchanged : Outcome::changed;
}

core::Result<Outcome> restore(const core::Context& ctx) {
  auto snap = snapshot(ctx);
  if (!snap) return std::move(snap).error();
  const Live& live = snap->live;
  auto& kept = snap->kept;
  const auto save = [&]() -> core::Status {
    if (kept == snap->record) return {};
    return iface::write_removed_routes(ctx.root, kept);
  };
  std::set<int> removed;
  for (const auto& r : kept) removed.insert(r.ifindex);
  const int index = iface::choose_restore(live.indexes, removed, live.addresses, live.routes);
  if (index == 0) {
    if (auto w = save(); !w) return std::move(w).error();
    return Outcome::unchanged;
  }
  auto entry =
      std::find_if(kept.begin(), kept.end(), [&](const auto& k) { return k.ifindex == index; });
  const iface::RemovedRoute back = *entry;
  auto state = iface::read_state(ctx.root, back.name);
  if (!state) return std::move(state).error();
  if (*state) tell_manager(ctx, back.name, **state, true);
  nl::Ipv4Route route;
  route.ifindex = index;
  route.gateway = back.gateway;
  route.priority = back.metric;
  route.table = nl::kMainTable;
  auto added = nl::add_route(route);
  // EEXIST: the manager we just told put it back first.
  if (!added && added.error().code != std::errc::file_exists) {
    if (auto w = save(); !w) return std::move(w).error();
    return std::move(added).error();
  }
  kept.erase(entry);
  if (auto w = save(); !w) return std::move(w).error();
  core::log_info(back.name, ": default route via ", back.gateway.str(),
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

}  // namespace guestkit::plugins::iface
