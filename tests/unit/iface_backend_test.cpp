// Backend detection and the files that hand an interface to a network manager.

#include <catch2/catch.hpp>
#include <filesystem>

#include "plugins/iface/backend.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace iface = guestkit::plugins::iface;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

iface::Backend detect(const TempDir& t, const std::string& setting = "auto") {
  core::IfaceConfig cfg;
  cfg.backend = setting;
  auto d = iface::detect_backend(t.root(), cfg);
  REQUIRE(d.ok());
  return d->backend;
}

}  // namespace

TEST_CASE("iface backend: networkd, then NetworkManager, then ifupdown, then none",
          "[iface-backend]") {
  TempDir t;
  CHECK(detect(t) == iface::Backend::none);
  // ifupdown needs both its config and its program.
  t.write("etc/network/interfaces", "auto lo\niface lo inet loopback\n");
  CHECK(detect(t) == iface::Backend::none);
  t.write("usr/sbin/ifup", "#!/bin/sh\n", 0755);
  CHECK(detect(t) == iface::Backend::ifupdown);
  fs::create_directories(t.path() / "run/NetworkManager");
  CHECK(detect(t) == iface::Backend::networkmanager);
  // /run/systemd/netif is made by tmpfiles even without networkd: only its state counts.
  fs::create_directories(t.path() / "run/systemd/netif/links");
  CHECK(detect(t) == iface::Backend::networkmanager);
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  // networkd without D-Bus: networkctl cannot hand it the NIC (e2e.net-networkd found
  // "networkctl reload: Failed to connect system bus"), the next backend takes it.
  CHECK(detect(t) == iface::Backend::networkmanager);
  fs::remove_all(t.path() / "run/NetworkManager");
  CHECK(detect(t) == iface::Backend::ifupdown);
  core::IfaceConfig cfg;
  auto d = iface::detect_backend(t.root(), cfg);
  REQUIRE(d.ok());
  CHECK_THAT(d->why, Catch::Contains("systemd-networkd runs but cannot be reached"));
  t.write("run/dbus/system_bus_socket", "");
  CHECK(detect(t) == iface::Backend::networkd);
}

TEST_CASE("iface backend: iface.backend overrides detection", "[iface-backend]") {
  TempDir t;
  t.write("run/systemd/netif/state", "OPER_STATE=routable\n");
  CHECK(detect(t, "none") == iface::Backend::none);
  CHECK(detect(t, "ifupdown") == iface::Backend::ifupdown);
  CHECK(detect(t, "networkmanager") == iface::Backend::networkmanager);
  CHECK(detect(t, "networkd") == iface::Backend::networkd);
  core::IfaceConfig cfg;
  cfg.backend = "wicked";
  CHECK(iface::detect_backend(t.root(), cfg).error().code == core::Errc::config);
}

TEST_CASE("iface backend: systemd runs when /run/systemd/system is a directory",
          "[iface-backend]") {
  TempDir t;
  CHECK_FALSE(iface::systemd_running(t.root()));
  t.write("run/systemd/system", "not a dir");
  CHECK_FALSE(iface::systemd_running(t.root()));
  fs::remove(t.path() / "run/systemd/system");
  fs::create_directories(t.path() / "run/systemd/system");
  CHECK(iface::systemd_running(t.root()));
}

TEST_CASE("iface backend: interfaces ifupdown is told about are its own", "[iface-backend]") {
  TempDir t;
  CHECK_FALSE(*iface::ifupdown_declares(t.root(), "eth0"));
  t.write("etc/network/interfaces",
          "source /etc/network/interfaces.d/*\n"
          "auto lo\niface lo inet loopback\n"
          "# iface eth3 inet dhcp\n"
          "allow-hotplug eth0\niface eth0 inet dhcp\n"
          "auto eth1 eth2\n");
  t.write("etc/network/interfaces.d/50-eth5", "iface eth5 inet static\n  address 192.0.2.5/24\n");
  t.write("etc/network/interfaces.d/eth6.dpkg-old", "iface eth6 inet dhcp\n");  // not read
  const auto root = t.root();
  for (const char* yes : {"eth0", "eth1", "eth2", "eth5"}) {
    INFO(yes);
    CHECK(*iface::ifupdown_declares(root, yes));
  }
  for (const char* no : {"eth3", "eth4", "eth6", "eth"}) {
    INFO(no);
    CHECK_FALSE(*iface::ifupdown_declares(root, no));
  }
}

TEST_CASE("iface backend: networkd's link state names the file configuring a link",
          "[iface-backend]") {
  TempDir t;
  CHECK(iface::networkd_network_file(t.root(), 3)->empty());
  t.write("run/systemd/netif/links/3",
          "ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/10-eth.network\n");
  t.write("run/systemd/netif/links/4", "ADMIN_STATE=unmanaged\n");
  t.write("run/systemd/netif/links/5", "ADMIN_STATE=linger\nNETWORK_FILE=/etc/x.network\n");
  CHECK(*iface::networkd_network_file(t.root(), 3) == "/etc/systemd/network/10-eth.network");
  CHECK(iface::networkd_network_file(t.root(), 4)->empty());
  CHECK(iface::networkd_network_file(t.root(), 5)->empty());
}

TEST_CASE("iface backend: the networkd file", "[iface-backend]") {
  // Read as networkd reads it (systemd.syntax(7)), checked against what guestkit-iface(8)
  // promises: the file matches the interface by name, DHCP=yes, RouteMetric= the metric.
  CHECK(iface::networkd_file_path("ens5") == "/run/systemd/network/50-guestkit-ens5.network");
  const auto file = guestkit::test::parse_unit_file(iface::networkd_file("ens5", 1029));
  CHECK(file.error == "");
  CHECK(file.sections() == std::vector<std::string>{"Match", "Network", "DHCPv4"});
  CHECK(file.get("Match", "Name") == "ens5");
  CHECK(file.get("Network", "DHCP") == "yes");
  CHECK(file.get("DHCPv4", "RouteMetric") == "1029");
  CHECK(file.get("DHCPv4", "UseGateway") == std::nullopt);
  // IPv6 is networkd's business: nothing that would switch SLAAC off.
  CHECK(file.get("Network", "IPv6AcceptRA") == std::nullopt);
  CHECK(file.get("Network", "LinkLocalAddressing") == std::nullopt);
  CHECK(file.settings.size() == 3);
  const auto secondary = guestkit::test::parse_unit_file(iface::networkd_file("ens5", 1029, false));
  CHECK(secondary.error == "");
  CHECK(secondary.get("Match", "Name") == "ens5");
  CHECK(secondary.get("DHCPv4", "RouteMetric") == "1029");
  CHECK(secondary.get("DHCPv4", "UseGateway") == "no");
  CHECK(iface::nm_connection_name("ens5") == "guestkit-ens5");
}
