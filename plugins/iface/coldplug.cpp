#include "plugins/iface/coldplug.hpp"

#include <iomanip>
#include <map>
#include <ostream>
#include <set>
#include <thread>

#include "core/cli.hpp"
#include "core/exec.hpp"
#include "core/log.hpp"
#include "core/netlink.hpp"
#include "core/udev_device.hpp"
#include "plugins/iface/backend.hpp"
#include "plugins/iface/dhcp.hpp"
#include "plugins/iface/dhcp_client.hpp"
#include "plugins/iface/iface.hpp"

namespace guestkit::plugins::iface {

std::string iface_unit(std::string_view name) {
  return "guestkit-iface@" + std::string(name) + ".service";
}

std::optional<std::chrono::milliseconds> wait_udev_queue(const core::Root& root,
                                                         std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  for (;;) {
    auto st = root.lstat(core::paths::kUdevQueue);
    // An unreadable /run/udev is no reason to hold the boot: as good as empty.
    if (!st || !*st)
      return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    if (clock::now() - start >= timeout) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

core::Result<ColdplugPlan> coldplug_ifaces(core::Context& ctx, ColdplugMode mode) {
  ColdplugPlan plan;
  // The interfaces udev has yet to make (their driver loads from a queued coldplug
  // event) are present at boot as much as the others.
  if (auto waited = wait_udev_queue(ctx.root, kUdevQueueTimeout); !waited)
    core::log_warning("coldplug: udev's event queue is still busy after ",
                      kUdevQueueTimeout.count(), " s; going on with the interfaces present now");
  else if (waited->count() >= 100)
    core::log_info("coldplug: waited ", waited->count(), " ms for udev's event queue");
  auto devices = core::make_device_enumerator(ctx.root)->enumerate("net");
  if (!devices) return std::move(devices).error();
  for (const auto& d : *devices) {
    if (!check_iface_name(d.sysname)) continue;
    auto info = read_iface(ctx.root, d.sysname);
    if (!info || !info->present || !why_not_handled(ctx.config.iface, *info).empty()) continue;
    if (mode == ColdplugMode::units) {
      // Its unit has run its add this boot already (udev's coldplug event started it;
      // the state is in /run): a `systemctl start` would only be a no-op job, an exec
      // and a D-Bus call at the mount stage, beside sshd's start (bench/README.md,
      // seed-first-boot). Without a state (its unit queued, still before its DHCP step,
      // or failed before it) it is started as before: a start is never lost.
      if (auto st = read_state(ctx.root, d.sysname); st && *st) {
        core::log_info(d.sysname, ": ", iface_unit(d.sysname), " has set it up already");
        ++plan.already;
        continue;
      }
      // check_iface_name above: the name needs no escaping in a unit name.
      auto started = core::run_tool(ctx, core::ToolEffect::changes_live,
                                    {"systemctl", "--no-block", "start", iface_unit(d.sysname)});
      if (started) {
        core::log_info(d.sysname, ": handed to ", iface_unit(d.sysname));
        ++plan.handed;
        continue;
      }
      core::log_warning(d.sysname, ": ", started.error().message(), "; setting it up here");
    }
    // The same lock a udev event for it takes.
    plan.events.push_back({"iface-add", d.sysname, "iface-" + d.sysname, &iface_plugins});
  }
  return plan;
}

// 30-coldplug-ifaces (boot stage "mount"): the interfaces present at boot get what a
// hotplugged one gets; those the image's own network configuration set up are left
// to it (20-dhcp-iface sees their address or their manager's claim). Under systemd
// each one is handed to its guestkit-iface@ unit, as udev hands a hotplugged one, and
// the stage goes on: waiting here for a lease held the config stage, and so sshd, for
// the whole DHCP exchange (5.7 s in the e2e guest), though nothing before sshd needs
// the network. Without systemd (or when a unit cannot start) the runner runs the
// iface-add events this returns, right after it.
core::Result<Outcome> coldplug_ifaces(PluginContext& p) {
  const auto mode = systemd_running(p.ctx.root) ? ColdplugMode::units : ColdplugMode::here;
  auto plan = coldplug_ifaces(p.ctx, mode);
  if (!plan) return std::move(plan).error();
  p.events = std::move(plan->events);
  // Nothing handed (or only units that ran already) and nothing to run: the runner
  // folds the events in.
  if (plan->handed > 0) return Outcome::changed;
  return plan->already > 0 ? Outcome::unchanged : Outcome::skipped;
}

int print_status(core::Context& ctx, std::ostream& out) {
  auto handled = handled_ifaces(ctx.root, ctx.config.iface);
  if (!handled) {
    core::log_error(handled.error().message());
    return core::kExitFailed;
  }
  std::set<std::string> names;
  std::map<std::string, IfaceInfo> infos;
  for (const auto& h : *handled) {
    names.insert(h.name);
    infos[h.name] = h;
  }
  if (auto with_state = state_names(ctx.root)) names.insert(with_state->begin(), with_state->end());

  std::vector<core::netlink::Ipv4Address> addresses;
  std::vector<core::netlink::Ipv4Route> routes;
  if (ctx.root.is_host()) {
    if (auto a = core::netlink::list_ipv4_addresses()) addresses = std::move(a).value();
    if (auto r = core::netlink::list_ipv4_routes()) routes = std::move(r).value();
  }
  out << std::left << std::setw(16) << "IFACE" << std::setw(7) << "INDEX" << std::setw(26) << "DHCP"
      << std::setw(20) << "IPV4"
      << "DEFAULT ROUTE\n";
  for (const auto& name : names) {
    auto it = infos.find(name);
    const int index = it == infos.end() ? 0 : it->second.ifindex;
    std::string dhcp = "-";
    if (auto st = read_state(ctx.root, name); st && *st) {
      const auto& s = **st;
      dhcp = s.dhcp == "client" ? s.client : s.dhcp;
      if (!s.unit.empty()) dhcp += " (unit)";
      if (auto pid = our_client(ctx.root, name); pid && *pid)
        dhcp += " pid " + std::to_string(**pid);
      else if (s.dhcp == "client" && s.unit.empty())
        dhcp += " (not running)";
    }
    std::string ipv4, route;
    for (const auto& a : addresses)
      if (a.ifindex == index && index)
        ipv4 += (ipv4.empty() ? "" : ",") + a.address.str() + "/" + std::to_string(a.prefix_len);
    for (const auto& r : routes)
      if (r.is_default() && r.ifindex == index && index)
        route += (route.empty() ? "" : ", ") + (r.gateway ? "via " + r.gateway->str() + " " : "") +
                 "metric " + std::to_string(r.priority);
    out << std::setw(16) << name << std::setw(7) << (index ? std::to_string(index) : "gone")
        << std::setw(26) << dhcp << std::setw(20) << (ipv4.empty() ? "-" : ipv4)
        << (route.empty() ? "-" : route) << "\n";
  }
  return core::kExitOk;
}

}  // namespace guestkit::plugins::iface
