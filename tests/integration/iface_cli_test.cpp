// guestkit-iface and guestkit-dhcp as udev, systemd and admins run them, on an image
// tree (--root): nothing live is touched, files land under the root.

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/exec.hpp"
#include "tests/support.hpp"
#include "tests/unit/iface_fake.hpp"

namespace core = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

core::ExecResult tool(const std::string& name, std::vector<std::string> args,
                      std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), guestkit::test::built_binary("hotplug", name).string());
  core::ExecOptions o;
  o.env = std::move(env);
  auto r = core::run(args, o);
  REQUIRE(r);
  return std::move(r).value();
}

}  // namespace

TEST_CASE("guestkit-iface usage: actions, names and the options it adds", "[iface-cli]") {
  auto help = tool("guestkit-iface", {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("Usage: guestkit-iface [OPTION]... [add|remove IFACE]") == 0);
  CHECK(help.out.find("--coldplug") != std::string::npos);
  CHECK(help.out.find("--status") != std::string::npos);
  CHECK(tool("guestkit-iface", {"plug", "eth1"}).exit_code == 64);
  CHECK(tool("guestkit-iface", {"add"}).exit_code == 64);
  auto bad = tool("guestkit-iface", {"add", "../eth1"});
  CHECK(bad.exit_code == 64);
  CHECK(bad.err.find("invalid interface name") != std::string::npos);
  CHECK(tool("guestkit-iface", {"--status", "add", "eth1"}).exit_code == 64);
  CHECK(tool("guestkit-dhcp", {}).exit_code == 64);
  CHECK(tool("guestkit-dhcp", {"eth1@x"}).exit_code == 64);
}

TEST_CASE("guestkit-iface from a udev environment on an image tree", "[iface-cli]") {
  TempDir t;
  guestkit::test::add_fake_nic(t, {"ens5", 3, 1, "", "virtio_net"});
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  t.write("run/dbus/system_bus_socket", "");  // networkctl reaches networkd over it
  const std::map<std::string, std::string> add{{"ACTION", "add"},
                                               {"SUBSYSTEM", "net"},
                                               {"INTERFACE", "ens5"},
                                               {"DEVPATH", "/devices/pci0000:00/x/net/ens5"}};
  auto r = tool("guestkit-iface", {"--root", t.path().string(), "--log-stderr"}, add);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("would bring up the link of ens5\n") != std::string::npos);
  CHECK(r.out.find("would run networkctl reconfigure ens5\n") != std::string::npos);
  CHECK(fs::exists(t.path() / "run/systemd/network/50-guestkit-ens5.network"));
  CHECK(fs::exists(t.path() / "run/guestkit/runs/iface-add/ens5.json"));

  // Another subsystem, or an action without a trigger: nothing, exit 0.
  auto other = add;
  other["SUBSYSTEM"] = "block";
  CHECK(tool("guestkit-iface", {"--root", t.path().string()}, other).exit_code == 0);
  auto move = add;
  move["ACTION"] = "move";
  CHECK(tool("guestkit-iface", {"--root", t.path().string()}, move).exit_code == 0);
  // No event at all: a usage error that says so.
  CHECK(tool("guestkit-iface", {"--root", t.path().string()}).exit_code == 64);

  auto status = tool("guestkit-iface", {"--root", t.path().string(), "--status"});
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("ens5") != std::string::npos);
  CHECK(status.out.find("networkd") != std::string::npos);

  auto remove = tool("guestkit-iface", {"--root", t.path().string(), "remove", "ens5"});
  CHECK(remove.exit_code == 0);
  CHECK_FALSE(fs::exists(t.path() / "run/systemd/network/50-guestkit-ens5.network"));
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface/ens5.state"));
}

TEST_CASE("guestkit-dhcp names the foreground client it would become", "[iface-cli]") {
  TempDir t;
  t.write("usr/sbin/udhcpc", "#!/bin/sh\n", 0755);
  t.write("etc/guestkit/guestkit.yml", "iface: {route_metric: 100}\n");
  auto r = tool("guestkit-dhcp", {"--root", t.path().string(), "ens5"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "would exec udhcpc -i ens5 -p " +
                     (t.path() / "run/guestkit/iface/ens5.pid").string() + " -f\n");
  t.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  r = tool("guestkit-dhcp", {"--root", t.path().string(), "--dry-run", "ens5"});
  CHECK(r.out.find("would exec dhclient -4 -d -pf ") == 0);
  CHECK(r.out.find(" -e IF_METRIC=100 ens5\n") != std::string::npos);
  TempDir none;
  auto missing = tool("guestkit-dhcp", {"--root", none.path().string(), "ens5"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("no DHCP client installed") != std::string::npos);
  none.write("etc/guestkit/guestkit.yml", "iface: {dhcp_client: dhcpcd}\n");
  missing = tool("guestkit-dhcp", {"--root", none.path().string(), "ens5"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("iface.dhcp_client dhcpcd is not installed") != std::string::npos);
}

TEST_CASE("guestkit-dhcp says why it cannot read its state, not that no client is installed",
          "[iface-cli]") {
  TempDir t;
  t.write("usr/sbin/udhcpc", "#!/bin/sh\n", 0755);
  // A state that cannot be read: not a regular file, or too big to be ours.
  fs::create_directories(t.path() / "run/guestkit/iface/ens5.state");
  auto r = tool("guestkit-dhcp", {"--root", t.path().string(), "ens5"});
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.out == "");
  CHECK(r.err.find("cannot read the state of ens5: ") != std::string::npos);
  CHECK(r.err.find("ens5.state is not a regular file") != std::string::npos);
  CHECK(r.err.find("no DHCP client installed") == std::string::npos);

  fs::remove(t.path() / "run/guestkit/iface/ens5.state");
  t.write("run/guestkit/iface/ens5.state", std::string(100 * 1024, '#'));
  r = tool("guestkit-dhcp", {"--root", t.path().string(), "ens5"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("cannot read the state of ens5: ") != std::string::npos);
  CHECK(r.err.find("File too large") != std::string::npos);

  // A symlink planted at the state's name is refused (Follow::never), and said so.
  fs::remove(t.path() / "run/guestkit/iface/ens5.state");
  t.write("elsewhere", "METRIC=5\n");
  fs::create_symlink(t.path() / "elsewhere", t.path() / "run/guestkit/iface/ens5.state");
  r = tool("guestkit-dhcp", {"--root", t.path().string(), "ens5"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("cannot read the state of ens5: ") != std::string::npos);

  // A readable state is used: its metric.
  fs::remove(t.path() / "run/guestkit/iface/ens5.state");
  t.write("run/guestkit/iface/ens5.state", "DHCP=client\nCLIENT=udhcpc\nMETRIC=77\n");
  t.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  r = tool("guestkit-dhcp", {"--root", t.path().string(), "ens5"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(" -e IF_METRIC=77 ens5\n") != std::string::npos);
}

// The udev rule without systemd runs `guestkit-iface --detach` for an add: udev (and
// `udevadm settle` in runlevel S) waits for a RUN program, an add waits for its lease.
// A slow admin plugin stands for the lease here: the helper must return before it ends,
// and the work must still be done, by a process of its own.
TEST_CASE("guestkit-iface --detach returns at once, the work goes on", "[iface-cli]") {
  TempDir t;
  guestkit::test::add_fake_nic(t, {"ens5", 3, 1, "", "virtio_net"});
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  t.write("run/dbus/system_bus_socket", "");
  const fs::path mark = t.path() / "slow-plugin-done";
  t.write("etc/guestkit/plugins.d/iface-add/50-slow",
          "#!/bin/sh\nsleep 2\necho \"$1\" >" + mark.string() + "\n");
  fs::permissions(t.path() / "etc/guestkit/plugins.d/iface-add/50-slow", fs::perms(0755));
  const std::map<std::string, std::string> add{{"ACTION", "add"},
                                               {"SUBSYSTEM", "net"},
                                               {"INTERFACE", "ens5"},
                                               {"DEVPATH", "/devices/pci0000:00/x/net/ens5"}};
  CHECK(tool("guestkit-iface", {"--root", t.path().string(), "--detach", "--status"}).exit_code ==
        64);

  const auto start = std::chrono::steady_clock::now();
  auto r = tool("guestkit-iface", {"--root", t.path().string(), "--log-stderr", "--detach"}, add);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(took < std::chrono::milliseconds(1500));
  CHECK_FALSE(fs::exists(mark));
  CHECK(r.out.find("would bring up") == std::string::npos);  // the child's, on /dev/null
  // The detached process runs every plugin and writes the run record last.
  const fs::path record = t.path() / "run/guestkit/runs/iface-add/ens5.json";
  for (int i = 0; i < 200 && !(fs::exists(mark) && fs::exists(record)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(fs::exists(mark));
  CHECK(t.read("slow-plugin-done") == "ens5\n");
  CHECK(fs::exists(record));
  CHECK(fs::exists(t.path() / "run/systemd/network/50-guestkit-ens5.network"));
}
