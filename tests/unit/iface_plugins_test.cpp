// The iface plugins on an image tree (--root): files under the root are written,
// everything live (links, processes, services, routes) is only reported.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>
#include <utility>

#include "core/cli.hpp"
#include "plugins/iface/backend.hpp"
#include "plugins/iface/coldplug.hpp"
#include "plugins/iface/iface.hpp"
#include "plugins/runner.hpp"
#include "tests/support.hpp"
#include "tests/unit/iface_fake.hpp"

namespace core = guestkit::core;
namespace plugins = guestkit::plugins;
namespace iface = guestkit::plugins::iface;
namespace fs = std::filesystem;
using guestkit::test::add_fake_nic;
using guestkit::test::TempDir;

namespace {

struct Run {
  int exit_code;
  std::string out;
  std::map<std::string, plugins::RunStatus> status;
};

Run run(const TempDir& t, const std::string& trigger, const std::string& name,
        core::Config cfg = {}, bool dry_run = false) {
  core::Context ctx(t.root(), std::move(cfg));
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = dry_run;
  plugins::RunOptions o;
  o.args = {name};
  o.record = false;
  auto summary = plugins::run_plugins(ctx, trigger, o);
  Run r{summary.exit_code(), out.str(), {}};
  for (const auto& rec : summary.records) r.status[rec.name] = rec.status;
  return r;
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// An interface's state file: an undo record, a JSON object (an exception, failing the
// test, when it is not one).
nlohmann::json state(const TempDir& t, const std::string& name) {
  return nlohmann::json::parse(t.read("run/guestkit/iface/" + name + ".state"));
}

// The boot's mount stage with only 30-coldplug-ifaces, and no run record.
plugins::RunOptions coldplug_ifaces_only() {
  plugins::RunOptions o;
  o.record = false;
  o.builtins = {};
  for (const auto& b : plugins::builtin_plugins())
    if (b.name == "30-coldplug-ifaces") o.builtins = {&b, 1};
  return o;
}

// The stage above run on ctx: its summary and what it reported. ctx's output stream is
// put back afterwards, so the test can go on using ctx.
struct StageRun {
  plugins::RunSummary summary;
  std::string out;
};
StageRun run_coldplug_ifaces(core::Context& ctx) {
  std::ostringstream out;
  std::ostream* const before = std::exchange(ctx.out, &out);
  auto summary = plugins::run_plugins(ctx, "mount", coldplug_ifaces_only());
  ctx.out = before;
  return {std::move(summary), out.str()};
}

// systemd-networkd running and reachable (its state, the bus socket networkctl uses);
// with `systemd`, a system booted by systemd (/run/systemd/system).
void networkd_running(TempDir& t, bool systemd) {
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  t.write("run/dbus/system_bus_socket", "");
  if (systemd) fs::create_directories(t.path() / "run/systemd/system");
}

}  // namespace

TEST_CASE("iface plugins: each trigger runs the plugins guestkit-iface(8) lists, in name order",
          "[iface-plugins]") {
  // The expectation is the manual page's list ("*20-dhcp-iface* (iface-add, iface-remove)"),
  // not a copy of registry_iface.cpp: a row added, dropped or given the wrong trigger
  // without the page (or the page without the code) fails here.
  // (The registry's own invariants, real trigger words included: runner_test.cpp.)
  std::ifstream man(std::string(GUESTKIT_SOURCE_DIR) + "/config/man/guestkit-iface.8.scd.in");
  REQUIRE(man);
  std::map<std::string, std::vector<std::string>> documented;
  const std::regex entry(R"(\*([0-9]{2}-[a-z-]+)\* \((.*)\))");
  const std::regex trigger_word(R"(iface-add|iface-remove|\*mount\*)");
  std::smatch m;
  for (std::string line; std::getline(man, line);) {
    if (!std::regex_match(line, m, entry)) continue;
    const std::string name = m[1], where = m[2];
    for (std::sregex_iterator t(where.begin(), where.end(), trigger_word), e; t != e; ++t) {
      std::string word = (*t)[0];
      if (word == "*mount*") word = "mount";
      documented[word].push_back(name);
    }
  }
  REQUIRE(documented.size() == 3);
  core::Context ctx(TempDir().root(), core::Config{});
  const auto plan = [&](const std::string& trigger) {
    auto entries = plugins::plan_plugins(ctx, trigger);
    REQUIRE(entries.ok());
    std::vector<std::string> out;
    for (const auto& e : entries.value())
      if (e.source == plugins::Source::builtin) out.push_back(e.name);
    return out;
  };
  for (auto& [trigger, names] : documented) {
    INFO(trigger);
    std::sort(names.begin(), names.end());
    if (trigger == "mount") {  // the boot stage holds other domains' plugins too
      const auto mount = plan(trigger);
      for (const auto& name : names)
        CHECK(std::find(mount.begin(), mount.end(), name) != mount.end());
    } else {
      CHECK(plan(trigger) == names);
    }
  }
}

TEST_CASE("iface plugins: the hooks' 0.1.0 names still switch them off and mask them",
          "[iface-plugins]") {
  // 10-hook-iface and 90-hook-iface became 10-hook-detach-iface and 90-hook-attach-iface:
  // an admin's config and plugins.d masks written for the old names keep working.
  TempDir t;
  fs::create_directories(t.path() / "etc/guestkit/plugins.d/iface-add");
  fs::create_symlink("/dev/null", t.path() / "etc/guestkit/plugins.d/iface-add/90-hook-iface");
  core::Config cfg;
  cfg.plugins.enabled["10-hook-iface"] = false;
  core::Context ctx(t.root(), cfg);
  const auto find = [&](const char* trigger, const char* name) {
    auto plan = plugins::plan_plugins(ctx, trigger);
    REQUIRE(plan.ok());
    std::vector<std::string> names;
    for (const auto& e : plan.value()) names.push_back(e.name);
    // The old name never appears as a plugin of its own.
    CHECK(std::find(names.begin(), names.end(), "10-hook-iface") == names.end());
    CHECK(std::find(names.begin(), names.end(), "90-hook-iface") == names.end());
    auto it = std::find_if(plan.value().begin(), plan.value().end(),
                           [&](const auto& e) { return e.name == name; });
    REQUIRE(it != plan.value().end());
    return *it;
  };
  auto detach = find("iface-remove", "10-hook-detach-iface");
  CHECK_FALSE(detach.enabled);
  CHECK(detach.why_disabled == "switched off in config (plugins.enabled: 10-hook-iface: false)");
  auto attach = find("iface-add", "90-hook-attach-iface");
  CHECK_FALSE(attach.enabled);
  CHECK(attach.why_disabled == "masked (symlink to /dev/null)");
  CHECK(plugins::current_plugin_name("iface-add", "10-hook-iface") == "10-hook-iface");
}

TEST_CASE("iface plugins: networkd gets a .network file under the root and remove takes it back",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  t.write("run/dbus/system_bus_socket", "");  // networkctl reaches networkd over it
  auto add = run(t, "iface-add", "eth1");
  INFO(add.out);
  CHECK(add.exit_code == 0);
  // What networkd will make of the file: eth1 (ifindex 3) by name, DHCP, and the
  // documented metric, iface.route_metric (1024) plus the interface index.
  const auto network =
      guestkit::test::parse_unit_file(t.read("run/systemd/network/50-guestkit-eth1.network"));
  CHECK(network.error == "");
  CHECK(network.get("Match", "Name") == "eth1");
  CHECK(network.get("Network", "DHCP") == "yes");
  CHECK(network.get("DHCPv4", "RouteMetric") == "1027");
  CHECK(network.get("DHCPv4", "UseGateway") == std::nullopt);  // the first, public NIC
  CHECK(state(t, "eth1").value("dhcp", "") == "networkd");
  CHECK(has(add.out, "would bring up the link of eth1\n"));
  CHECK(has(add.out, "would run networkctl reload\nwould run networkctl reconfigure eth1\n"));
  CHECK(has(add.out, "would keep one IPv4 default route"));
  CHECK(has(add.out, "would run hook post-iface-attach eth1"));
  CHECK(add.status["20-dhcp-iface"] == plugins::RunStatus::changed);

  auto remove = run(t, "iface-remove", "eth1");
  INFO(remove.out);
  CHECK(remove.exit_code == 0);
  CHECK(has(remove.out, "would run hook pre-iface-detach eth1"));
  CHECK(has(remove.out, "would run networkctl reload"));
  CHECK_FALSE(fs::exists(t.path() / "run/systemd/network/50-guestkit-eth1.network"));
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface/eth1.state"));
  CHECK(run(t, "iface-remove", "eth1").status["20-dhcp-iface"] == plugins::RunStatus::unchanged);
}

// NetworkManager gives a device it comes to manage without a connection its own
// "Wired connection N" and activates it at once: guestkit's connection must exist
// before the device is set managed, and only guestkit's activates it (not autoconnect
// until then), or the two race (e2e.net-nm-guestkit saw NetworkManager's win first).
TEST_CASE("iface plugins: NetworkManager gets guestkit's connection before the NIC is set managed",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  fs::create_directories(t.path() / "run/NetworkManager");
  auto add = run(t, "iface-add", "eth1");
  INFO(add.out);
  CHECK(add.exit_code == 0);
  CHECK(state(t, "eth1").value("dhcp", "") == "nm");
  CHECK(state(t, "eth1").value("nm_connection", "") == "guestkit-eth1");
  CHECK(has(add.out,
            "would run nmcli connection add save no type ethernet ifname eth1 con-name "
            "guestkit-eth1 connection.autoconnect no ipv4.method auto ipv4.route-metric 1027\n"
            "would run nmcli device set eth1 managed yes\n"
            "would run nmcli --wait 0 connection up guestkit-eth1\n"
            "would run nmcli connection modify --temporary guestkit-eth1 connection.autoconnect "
            "yes\n"));
  CHECK(add.status["20-dhcp-iface"] == plugins::RunStatus::changed);
  // The link is NetworkManager's to bring up (its activation of guestkit's connection
  // does): a device it finds up before it looks is "assumed" and never leased.
  CHECK_FALSE(has(add.out, "bring up the link"));
  CHECK(add.status["10-up-iface"] == plugins::RunStatus::unchanged);

  auto remove = run(t, "iface-remove", "eth1");
  INFO(remove.out);
  CHECK(remove.exit_code == 0);
  CHECK(has(remove.out, "would run nmcli connection delete guestkit-eth1\n"));
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface/eth1.state"));
}

TEST_CASE("iface plugins: a link networkd already configures is left to it", "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  t.write("run/dbus/system_bus_socket", "");  // networkctl reaches networkd over it
  t.write("run/systemd/netif/links/3",
          "ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/10-eth1.network\n");
  auto add = run(t, "iface-add", "eth1");
  CHECK(add.exit_code == 0);
  CHECK(add.status["20-dhcp-iface"] == plugins::RunStatus::skipped);
  CHECK_FALSE(fs::exists(t.path() / "run/systemd/network"));
  CHECK(state(t, "eth1").value("dhcp", "") == "external");
}

TEST_CASE("iface plugins: without a manager a client runs, in a unit under systemd",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  t.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  auto direct = run(t, "iface-add", "eth1");
  INFO(direct.out);
  CHECK(direct.exit_code == 0);
  const std::string dir = (t.path() / "run/guestkit/iface").string();
  CHECK(has(direct.out, "would run dhclient -4 -nw -pf " + dir + "/eth1.pid -lf " + dir +
                            "/eth1.leases -e IF_METRIC=1027 eth1\n"));
  CHECK(state(t, "eth1").value("dhcp", "") == "client");
  CHECK(state(t, "eth1").value("client", "") == "dhclient");

  TempDir u;
  add_fake_nic(u, {"eth1", 3, 1, "", "virtio_net"});
  u.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  fs::create_directories(u.path() / "run/systemd/system");
  auto unit = run(u, "iface-add", "eth1");
  CHECK(has(unit.out, "would run systemctl --no-block start guestkit-dhcp@eth1.service\n"));
  CHECK(state(u, "eth1").value("unit", "") == "guestkit-dhcp@eth1.service");
  auto remove = run(u, "iface-remove", "eth1");
  CHECK(has(remove.out, "would run systemctl stop guestkit-dhcp@eth1.service\n"));
  CHECK_FALSE(fs::exists(u.path() / "run/guestkit/iface/eth1.state"));

  TempDir none;  // no client at all: the add is partial, and says why
  add_fake_nic(none, {"eth1", 3, 1, "", "virtio_net"});
  CHECK(run(none, "iface-add", "eth1").exit_code == core::kExitPartial);
}

TEST_CASE("iface plugins: ifupdown's own interfaces and no_dhcp ones get no client",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  add_fake_nic(t, {"eth2", 4, 1, "", "virtio_net"});
  t.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  t.write("sbin/ifup", "#!/bin/sh\n", 0755);
  t.write("etc/network/interfaces", "allow-hotplug eth1\niface eth1 inet dhcp\n");
  auto declared = run(t, "iface-add", "eth1");
  CHECK_FALSE(has(declared.out, "dhclient"));
  CHECK(state(t, "eth1").value("backend", "") == "ifupdown");
  CHECK(state(t, "eth1").value("dhcp", "") == "external");

  core::Config cfg;
  cfg.iface.no_dhcp = {"eth2"};
  auto off = run(t, "iface-add", "eth2", cfg);
  CHECK(off.exit_code == 0);
  CHECK(has(off.out, "would bring up the link of eth2"));
  CHECK_FALSE(has(off.out, "dhclient"));
  CHECK(state(t, "eth2").value("dhcp", "") == "off");
}

TEST_CASE("iface plugins: sysctls on every interface but the first and virtio queues",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth0", 2, 1, "", "virtio_net"});
  add_fake_nic(t, {"eth1", 3, 1, "", "e1000"});
  t.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  auto first = run(t, "iface-add", "eth0");
  CHECK(t.read("proc/sys/net/ipv4/conf/eth0/arp_announce") == "0\n");
  CHECK(t.read("proc/sys/net/ipv4/conf/eth0/rp_filter") == "1\n");
  CHECK(
      has(first.out, "would set the combined channels of eth0 to min(1 vCPUs, 8, device maximum)"));

  auto second = run(t, "iface-add", "eth1");
  CHECK(second.status["40-tune-iface"] == plugins::RunStatus::changed);
  CHECK(t.read("proc/sys/net/ipv4/conf/eth1/arp_announce") == "2\n");
  CHECK(t.read("proc/sys/net/ipv4/conf/eth1/arp_filter") == "0\n");
  CHECK(t.read("proc/sys/net/ipv4/conf/eth1/rp_filter") == "0\n");
  CHECK_FALSE(has(second.out, "combined channels"));  // not virtio
  CHECK(run(t, "iface-add", "eth1").status["40-tune-iface"] == plugins::RunStatus::unchanged);

  core::Config cfg;  // switched off
  cfg.iface.secondary_sysctls = false;
  cfg.iface.multiqueue = false;
  t.write("proc/sys/net/ipv4/conf/eth1/rp_filter", "1\n");
  CHECK(run(t, "iface-add", "eth1", cfg).status["40-tune-iface"] == plugins::RunStatus::unchanged);
  CHECK(t.read("proc/sys/net/ipv4/conf/eth1/rp_filter") == "1\n");
}

TEST_CASE("iface plugins: interfaces not handled are not touched at all", "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth9", 5, 1, "", ""});  // virtual, matched by a glob only
  t.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  for (const char* name : {"eth9", "eth7", "lo"}) {
    auto r = run(t, "iface-add", name);
    INFO(name << "\n" << r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    for (const auto& [plugin, status] : r.status) CHECK(status == plugins::RunStatus::skipped);
  }
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface"));
  core::Config off;
  off.iface.enabled = false;
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  for (const auto& [plugin, status] : run(t, "iface-add", "eth1", off).status)
    CHECK(status == plugins::RunStatus::disabled);
}

TEST_CASE("iface plugins: dry-run changes nothing", "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth0", 2, 1, "", "virtio_net"});
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  t.write("run/dbus/system_bus_socket", "");  // networkctl reaches networkd over it
  auto r = run(t, "iface-add", "eth1", {}, true);
  CHECK(r.exit_code == 0);
  CHECK(has(r.out,
            "would write " + (t.path() / "run/systemd/network/50-guestkit-eth1.network").string()));
  CHECK(has(r.out, "would set " + (t.path() / "proc/sys/net/ipv4/conf/eth1/arp_announce").string() +
                       " to 2"));
  CHECK_FALSE(fs::exists(t.path() / "run/systemd/network"));
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit"));
  CHECK(t.read("proc/sys/net/ipv4/conf/eth1/arp_announce") == "0\n");
}

// Without systemd (no /run/systemd/system) nothing else would set the interfaces up:
// the stage runs the iface-add plugins itself.
TEST_CASE("iface plugins: the boot's coldplug adds every handled interface present",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth0", 2, 1, "", "virtio_net"});
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  add_fake_nic(t, {"veth0", 4, 1, "", ""});
  networkd_running(t, false);
  core::Context ctx(t.root(), core::Config{});
  const auto [summary, out] = run_coldplug_ifaces(ctx);
  INFO(out);
  CHECK(summary.exit_code() == 0);
  CHECK(fs::exists(t.path() / "run/systemd/network/50-guestkit-eth0.network"));
  CHECK(fs::exists(t.path() / "run/systemd/network/50-guestkit-eth1.network"));
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface/veth0.state"));
}

// Under systemd the stage must not hold the boot for a lease (it held config, and so
// sshd, 5.7 s in the e2e guest): each handled NIC goes to its guestkit-iface@ unit, as
// udev hands a hotplugged one, and nothing of the add is done in the stage itself.
TEST_CASE("iface plugins: under systemd the boot's coldplug hands each NIC to its unit",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth0", 2, 1, "", "virtio_net"});
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  add_fake_nic(t, {"veth0", 4, 1, "", ""});
  networkd_running(t, true);
  core::Context ctx(t.root(), core::Config{});
  const auto [summary, out] = run_coldplug_ifaces(ctx);
  INFO(out);
  CHECK(summary.exit_code() == 0);
  REQUIRE(summary.records.size() == 1);
  CHECK(summary.records[0].status == plugins::RunStatus::changed);
  CHECK(has(out, "would run systemctl --no-block start guestkit-iface@eth0.service"));
  CHECK(has(out, "would run systemctl --no-block start guestkit-iface@eth1.service"));
  CHECK_FALSE(has(out, "guestkit-iface@veth0"));
  // The unit does the add: no .network file, no state, no link change from the stage.
  CHECK_FALSE(has(out, "would bring up the link"));
  CHECK_FALSE(fs::exists(t.path() / "run/systemd/network"));
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface"));
  // guestkit-iface --coldplug (an admin asking for it now) still does the work here.
  auto here = iface::coldplug_ifaces(ctx);
  REQUIRE(here);
  CHECK(here->handed == 0);
  REQUIRE(here->events.size() == 2);
  CHECK(here->events[0].trigger == "iface-add");
  CHECK(here->events[0].object == "eth0");
  CHECK(here->events[1].lock == "iface-eth1");
  CHECK(plugins::events_exit_code(plugins::run_events(ctx, here->events, {})) == 0);
  CHECK(fs::exists(t.path() / "run/systemd/network/50-guestkit-eth0.network"));
}

// udev's coldplug event started guestkit-iface@eth0 already, and its add saved the
// state before the mount stage looked: no second `systemctl start` for it (a no-op job,
// an exec and a D-Bus call beside sshd's start); eth1, without a state, is handed.
TEST_CASE("iface plugins: the boot's coldplug does not hand again a NIC its unit set up",
          "[iface-plugins]") {
  TempDir t;
  add_fake_nic(t, {"eth0", 2, 1, "", "virtio_net"});
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  networkd_running(t, true);
  iface::State s;
  s.backend = "networkd";
  s.dhcp = "networkd";
  REQUIRE(iface::write_state(t.root(), "eth0", s));
  core::Context ctx(t.root(), core::Config{});
  const auto [summary, out] = run_coldplug_ifaces(ctx);
  INFO(out);
  CHECK(summary.exit_code() == 0);
  REQUIRE(summary.records.size() == 1);
  CHECK(summary.records[0].status == plugins::RunStatus::changed);
  CHECK_FALSE(has(out, "guestkit-iface@eth0.service"));
  CHECK(has(out, "would run systemctl --no-block start guestkit-iface@eth1.service"));

  // Both set up by their units: nothing to hand, the plugin changed nothing.
  REQUIRE(iface::write_state(t.root(), "eth1", s));
  const auto [again, again_out] = run_coldplug_ifaces(ctx);
  INFO(again_out);
  REQUIRE(again.records.size() == 1);
  CHECK(again.records[0].status == plugins::RunStatus::unchanged);
  CHECK_FALSE(has(again_out, "systemctl"));
  // guestkit-iface --coldplug (the admin's, mode here) still looks at each one itself.
  auto here = iface::coldplug_ifaces(ctx);
  REQUIRE(here);
  CHECK(here->events.size() == 2);
}

// Debian 13's systemd (257) runs `udevadm trigger` before udevd starts: at the mount
// stage the boot NIC's coldplug event could still be queued, its driver not loaded,
// no interface yet. The e2e trixie guest's boot NIC then came after
// network-online.target (the stage had found no interface). The stage waits for
// udev's queue (its /run/udev/queue marker) to drain first.
TEST_CASE("iface plugins: the boot's coldplug waits for udev's queue before it looks",
          "[iface-plugins]") {
  TempDir t;
  networkd_running(t, true);
  t.write("run/udev/queue", "");
  core::Context ctx(t.root(), core::Config{});
  // udev, still busy: the driver makes eth0, then the queue is empty.
  std::thread udev([&t] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    add_fake_nic(t, {"eth0", 2, 1, "", "virtio_net"});
    fs::remove(t.path() / "run/udev/queue");
  });
  const auto [summary, out] = run_coldplug_ifaces(ctx);
  udev.join();
  INFO(out);
  CHECK(summary.exit_code() == 0);
  REQUIRE(summary.records.size() == 1);
  CHECK(summary.records[0].status == plugins::RunStatus::changed);
  CHECK(has(out, "would run systemctl --no-block start guestkit-iface@eth0.service"));
}

TEST_CASE("iface plugins: wait_udev_queue returns at once without a queue, nullopt on a timeout",
          "[iface-plugins]") {
  TempDir t;
  auto none = iface::wait_udev_queue(t.root(), std::chrono::milliseconds(5000));
  REQUIRE(none);
  CHECK(none->count() < 1000);
  t.write("run/udev/queue", "");
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(iface::wait_udev_queue(t.root(), std::chrono::milliseconds(200)));
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(200));
}
