#include "plugins/iface/dhcp.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/netlink.hpp"
#include "core/paths.hpp"
#include "plugins/iface/backend.hpp"
#include "plugins/iface/dhcp_client.hpp"

namespace guestkit::plugins::iface {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Longest wait for a lease's routes once its address is there, and how often to look
// at what no route notification tells (the client's lease file, networkd's state).
constexpr milliseconds kSettle{2000};
constexpr milliseconds kSettleRecheck{100};

core::Error failure(std::string what) {
  return core::make_error(core::Errc::failed, std::move(what));
}

// Every change through a network manager or a client: on the live system only, else
// reported (core::run_tool's dry-run policy).
core::Result<core::ExecResult> change(const core::Context& ctx,
                                      const std::vector<std::string>& argv,
                                      const core::ToolOptions& options = {}) {
  return core::run_tool(ctx, core::ToolEffect::changes_live, argv, options);
}

core::WriteOptions run_file_options() {
  core::WriteOptions wo;
  wo.create_parents = true;
  wo.follow = core::Follow::never;
  wo.durable = false;  // /run is volatile
  return wo;
}

std::string unit_name(std::string_view name) {
  return "guestkit-dhcp@" + std::string(name) + ".service";
}

core::Status save(const core::Context& ctx, std::string_view name, const State& state) {
  if (ctx.dry_run) return {};
  return write_state(ctx.root, name, state);
}

// Somebody else configures the interface: recorded, so remove knows it has nothing
// of ours to undo, and left alone.
core::Result<Outcome> leave(const core::Context& ctx, const IfaceInfo& info, Backend backend,
                            const std::string& why) {
  core::log_info(info.name, ": leaving DHCP to others: ", why);
  State s;
  s.backend = std::string(backend_name(backend));
  s.dhcp = "external";
  if (auto w = save(ctx, info.name, s); !w) return std::move(w).error();
  return Outcome::skipped;
}

core::Result<bool> start_networkd(const core::Context& ctx, const IfaceInfo& info,
                                  std::uint32_t metric) {
  const std::string path = networkd_file_path(info.name);
  State s;
  s.backend = "networkd";
  s.dhcp = "networkd";
  s.networkd_file = path;
  s.metric = metric;
  const std::string content = networkd_file(info.name, metric);
  if (ctx.dry_run) {
    ctx.would("write " + ctx.root.display(path));
  } else {
    core::WriteOptions wo = run_file_options();
    if (auto w = core::write_file_if_changed(ctx.root, path, content, wo); !w)
      return std::move(w).error();
    if (auto w = write_state(ctx.root, info.name, s); !w) return std::move(w).error();
  }
  // reload reads the new file; reconfigure applies it to this link now.
  if (auto c = change(ctx, {"networkctl", "reload"}); !c) return std::move(c).error();
  if (auto c = change(ctx, {"networkctl", "reconfigure", info.name}); !c)
    return std::move(c).error();
  return true;
}

core::Result<bool> start_nm(const core::Context& ctx, const IfaceInfo& info, std::uint32_t metric) {
  const std::string conn = nm_connection_name(info.name);
  if (live(ctx)) {
    core::ToolOptions o;
    o.failure_is_error = false;  // a device nmcli does not know is not NetworkManager's
    auto st =
        core::run_tool({"nmcli", "-t", "-g", "GENERAL.STATE", "device", "show", info.name}, o);
    if (!st) return std::move(st).error();
    // "10 (unmanaged)": NetworkManager was told to keep off; anything else is its own.
    if (st->success() && st->out.rfind("10 ", 0) != 0) return false;
  }
  State s;
  s.backend = "networkmanager";
  s.dhcp = "nm";
  s.nm_connection = conn;
  s.metric = metric;
  if (auto w = save(ctx, info.name, s); !w) return std::move(w).error();
  // Our connection exists before NetworkManager manages the NIC: a device it comes to
  // manage with no connection for it gets an in-memory "Wired connection N" of its own
  // (unless no-auto-default says otherwise), activated at once, racing ours (seen in
  // e2e.net-nm-guestkit). In memory only ("save no"): nothing lands in /etc. Not
  // autoconnect until ours is up, so that the one activation is ours.
  if (auto c = change(ctx, {"nmcli", "connection", "add", "save", "no", "type", "ethernet",
                             "ifname", info.name, "con-name", conn, "connection.autoconnect", "no",
                             "ipv4.method", "auto", "ipv4.route-metric", std::to_string(metric)});
      !c)
    return std::move(c).error();
  if (auto c = change(ctx, {"nmcli", "device", "set", info.name, "managed", "yes"}); !c)
    return std::move(c).error();
  if (auto c = change(ctx, {"nmcli", "--wait", "0", "connection", "up", conn}); !c)
    return std::move(c).error();
  // From now on NetworkManager brings it back itself (a lost lease, a link flap), as it
  // does its own profiles; --temporary keeps the change in memory.
  if (auto c = change(ctx, {"nmcli", "connection", "modify", "--temporary", conn,
                            "connection.autoconnect", "yes"});
      !c)
    return std::move(c).error();
  return true;
}

core::Result<bool> start_client(const core::Context& ctx, const IfaceInfo& info, Backend backend,
                                std::uint32_t metric, Clock::time_point deadline) {
  auto ours = our_client(ctx.root, info.name);
  if (!ours) return std::move(ours).error();
  if (*ours) {
    core::log_info(info.name, ": our DHCP client runs already (pid ", **ours, ")");
    return false;
  }
  auto client = choose_client(ctx.root, ctx.config.iface);
  if (!client)
    return failure(ctx.config.iface.dhcp_client == "auto"
                       ? "no DHCP client installed (dhclient, dhcpcd or udhcpc)"
                       : "iface.dhcp_client " + ctx.config.iface.dhcp_client + " is not installed");
  State s;
  s.backend = std::string(backend_name(backend));
  s.dhcp = "client";
  s.client = std::string(client_name(*client));
  s.metric = metric;
  if (systemd_running(ctx.root)) {
    // udev kills what its RUN programs leave behind: under systemd the client lives
    // in guestkit-dhcp@.service. --no-block: we may be a unit's start job ourselves.
    s.unit = unit_name(info.name);
    if (auto w = save(ctx, info.name, s); !w) return std::move(w).error();
    if (auto c = change(ctx, {"systemctl", "--no-block", "start", s.unit}); !c)
      return std::move(c).error();
    return true;
  }
  auto pid = ctx.root.host_path(pid_path(info.name));
  auto lease = ctx.root.host_path(lease_path(info.name));
  if (!pid || !lease) return failure("state paths under " + ctx.root.prefix().string());
  // A client that waits before detaching (udhcpc) gets what is left of the step's
  // deadline, not a whole dhcp_timeout of its own.
  const auto left =
      std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  auto cmd =
      client_command(*client, info.name, pid->string(), lease->string(), metric, false, left);
  if (!ctx.dry_run) {
    if (auto d = ctx.root.mkdirs(core::paths::kIfaceStateDir, 0755, core::Follow::never); !d)
      return std::move(d).error();
  }
  if (auto w = save(ctx, info.name, s); !w) return std::move(w).error();
  core::ToolOptions o;
  o.timeout = cmd.timeout;
  o.env = cmd.env;
  if (auto c = change(ctx, cmd.argv, o); !c) return std::move(c).error();
  if (live(ctx) && *client == Client::dhcpcd) {
    // dhcpcd keeps a pid file of its own, elsewhere: record the daemon's pid in ours.
    auto running = clients_on(ctx.root, info.name);
    if (running && !running->empty()) {
      auto w = core::write_file_atomic(ctx.root, pid_path(info.name),
                                       std::to_string(running->front()) + "\n", run_file_options());
      if (!w) return std::move(w).error();
    }
  }
  return true;
}

// Whether the client has finished applying the lease (its routes are in place), for
// the clients that tell: dhclient writes its lease file after dhclient-script ran, a
// detaching udhcpc returns only after its script, networkd marks the link configured.
bool settled(const core::Context& ctx, const IfaceInfo& info, const State& s) {
  if (s.dhcp == "client" && s.client == "dhclient") {
    auto text =
        core::read_file_if_exists(ctx.root, lease_path(info.name), 1 << 20, core::Follow::never);
    return text && *text && (*text)->find("lease {") != std::string::npos;
  }
  if (s.dhcp == "client" && s.client == "udhcpc") return s.unit.empty();
  if (s.dhcp == "networkd") {
    auto text = core::read_file_if_exists(
        ctx.root, std::string(core::paths::kNetworkdLinksDir) + "/" + std::to_string(info.ifindex),
        1 << 16);
    return text && *text && (*text)->find("ADMIN_STATE=configured") != std::string::npos;
  }
  return false;
}

// The address comes first, the routes a moment later (dhclient-script, networkd):
// the route policy that runs next must see both. Both waits end at the step's
// deadline (`start` + iface.dhcp_timeout), whatever the client's start took.
void wait_for_lease(const core::Context& ctx, const IfaceInfo& info, Clock::time_point start,
                    Clock::time_point deadline) {
  const auto left = [&] {
    return std::max(milliseconds(0),
                    std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  };
  auto got = core::netlink::wait_for_ipv4_address(info.ifindex, left());
  const auto ms = [&] {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  };
  if (!got) {
    core::log_warning(info.name, ": cannot watch for the lease: ", got.error().message(),
                      ", ignoring");
    return;
  }
  if (!*got) {
    core::log_warning(info.name, ": no lease within ", ms(), " ms; the DHCP client keeps trying");
    return;
  }
  auto state = read_state(ctx.root, info.name);
  const State s = state && *state ? **state : State{};
  // Woken by the route's notification, not by polling: a poll every 10 ms (a file read
  // and a route dump each) took the vCPU the client's script needed to add the route.
  const auto settle_left = std::min(kSettle, left());
  if (auto routed = core::netlink::wait_for_ipv4_default_route(
          info.ifindex, settle_left, [&] { return settled(ctx, info, s); }, kSettleRecheck);
      !routed)
    core::log_warning(info.name, ": cannot watch for the lease's routes: ",
                      routed.error().message(), ", ignoring");
  core::log_info(info.name, ": address ", (*got)->address.str(), "/", (*got)->prefix_len, " after ",
                 ms(), " ms");
}

}  // namespace

core::Result<Outcome> start_dhcp(const core::Context& ctx, const IfaceInfo& info) {
  const auto& cfg = ctx.config.iface;
  // One deadline for the whole step: starting the client and waiting for the lease.
  const auto start = Clock::now();
  const auto deadline = start + cfg.dhcp_timeout;
  if (is_no_dhcp(cfg, info.name)) {
    core::log_info(info.name, ": left without DHCP (iface.no_dhcp)");
    State s;
    s.dhcp = "off";
    if (auto w = save(ctx, info.name, s); !w) return std::move(w).error();
    return Outcome::skipped;
  }
  auto detected = detect_backend(ctx.root, cfg);
  if (!detected) return std::move(detected).error();
  const Backend backend = detected->backend;
  core::log_debug(info.name, ": backend ", backend_name(backend), " (", detected->why, ")");
  const std::uint32_t metric =
      cfg.route_metric + static_cast<std::uint32_t>(std::max(info.ifindex, 0));

  auto previous = read_state(ctx.root, info.name);
  if (!previous) return std::move(previous).error();
  const bool ours_before =
      *previous && ((*previous)->dhcp == "client" || (*previous)->dhcp == "networkd" ||
                    (*previous)->dhcp == "nm");
  if (live(ctx) && !ours_before) {
    // Never touch an interface somebody configured already (statically or not).
    auto addresses = core::netlink::list_ipv4_addresses();
    if (!addresses) return std::move(addresses).error();
    for (const auto& a : *addresses)
      if (a.ifindex == info.ifindex && a.scope == 0)
        return leave(ctx, info, backend, "it has the address " + a.address.str() + " already");
  }

  core::Result<bool> started = false;
  switch (backend) {
    case Backend::networkd: {
      auto other = networkd_network_file(ctx.root, info.ifindex);
      if (!other) return std::move(other).error();
      if (!other->empty() && *other != networkd_file_path(info.name))
        return leave(ctx, info, backend, "systemd-networkd configures it with " + *other);
      started = start_networkd(ctx, info, metric);
      break;
    }
    case Backend::networkmanager: {
      auto declared = ifupdown_declares(ctx.root, info.name);
      if (!declared) return std::move(declared).error();
      if (*declared) return leave(ctx, info, backend, "declared in /etc/network/interfaces");
      started = start_nm(ctx, info, metric);
      if (started && !*started) return leave(ctx, info, backend, "NetworkManager manages it");
      break;
    }
    case Backend::ifupdown: {
      auto declared = ifupdown_declares(ctx.root, info.name);
      if (!declared) return std::move(declared).error();
      if (*declared) return leave(ctx, info, backend, "declared in /etc/network/interfaces");
      [[fallthrough]];
    }
    case Backend::none: {
      // networkd may run unreachable (no D-Bus: detect_backend) and configure this NIC
      // from its own files: never a second DHCP client beside it.
      auto networkd = networkd_network_file(ctx.root, info.ifindex);
      if (!networkd) return std::move(networkd).error();
      if (!networkd->empty() && *networkd != networkd_file_path(info.name))
        return leave(ctx, info, backend, "systemd-networkd configures it with " + *networkd);
      auto others = clients_on(ctx.root, info.name);
      if (!others) return std::move(others).error();
      auto ours = our_client(ctx.root, info.name);
      if (!ours) return std::move(ours).error();
      auto foreign = std::find_if(others->begin(), others->end(),
                                  [&](pid_t p) { return !*ours || p != **ours; });
      if (foreign != others->end())
        return leave(ctx, info, backend,
                     "a DHCP client runs on it already (pid " + std::to_string(*foreign) + ")");
      started = start_client(ctx, info, backend, metric, deadline);
      break;
    }
  }
  if (!started) return std::move(started).error();
  if (!*started) return Outcome::unchanged;
  if (live(ctx)) wait_for_lease(ctx, info, start, deadline);
  return Outcome::changed;
}

core::Result<Outcome> stop_dhcp(const core::Context& ctx, std::string_view name) {
  auto state = read_state(ctx.root, name);
  if (!state) return std::move(state).error();
  bool changed = false;
  if (*state && !(*state)->unit.empty()) {
    if (auto c = change(ctx, {"systemctl", "stop", (*state)->unit}); !c)
      return std::move(c).error();
    changed = true;
  }
  if (live(ctx)) {
    auto ours = open_our_client(ctx.root, name);
    if (!ours) return std::move(ours).error();
    if (*ours) {
      if (auto s = stop_process(**ours, std::chrono::seconds(3)); !s) return std::move(s).error();
      changed = true;
    }
  } else {
    auto ours = our_client(ctx.root, name);
    if (!ours) return std::move(ours).error();
    if (*ours) {
      ctx.would("stop the DHCP client (pid " + std::to_string(**ours) + ")");
      changed = true;
    }
  }
  // Our .network file goes even without a state file (a crash between the two writes).
  const std::string file = networkd_file_path(name);
  auto st = ctx.root.lstat(file);
  if (!st) return std::move(st).error();
  if (*st) {
    if (ctx.dry_run) {
      ctx.would("remove " + ctx.root.display(file));
    } else {
      auto parent = ctx.root.open_parent(file, core::Follow::never);
      if (!parent) return std::move(parent).error();
      if (::unlinkat(parent->dir.get(), parent->leaf.c_str(), 0) < 0 && errno != ENOENT)
        return core::errno_error("remove " + ctx.root.display(file));
    }
    if (auto c = change(ctx, {"networkctl", "reload"}); !c) return std::move(c).error();
    changed = true;
  }
  if (*state && !(*state)->nm_connection.empty()) {
    if (auto c = change(ctx, {"nmcli", "connection", "delete", (*state)->nm_connection}); !c)
      core::log_warning(name, ": ", c.error().message(), ", ignoring");  // gone with the device
    changed = true;
  }
  if (ctx.dry_run) {
    if (*state) ctx.would("remove " + ctx.root.display(state_path(name)));
    return *state || changed ? Outcome::changed : Outcome::unchanged;
  }
  auto removed = remove_state(ctx.root, name);
  if (!removed) return std::move(removed).error();
  return changed || *removed ? Outcome::changed : Outcome::unchanged;
}

// 20-dhcp-iface: on add, hand the interface to the image's DHCP (systemd-networkd,
// NetworkManager, or a client guestkit runs) and wait for the lease; on remove,
// undo exactly what was done.
core::Result<Outcome> dhcp_iface(PluginContext& p) {
  const std::string& name = p.args.at(0);
  if (p.trigger == "iface-remove") return stop_dhcp(p.ctx, name);
  auto info = read_iface(p.ctx.root, name);
  if (!info) return std::move(info).error();
  if (!info->present || !why_not_handled(p.ctx.config.iface, *info).empty())
    return Outcome::skipped;
  return start_dhcp(p.ctx, *info);
}

}  // namespace guestkit::plugins::iface
