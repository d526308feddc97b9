// guestkit-iface's shared part: names, which interfaces are handled, the state file.

#include "plugins/iface/iface.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "plugins/iface/route_record.hpp"
#include "tests/support.hpp"
#include "tests/unit/iface_fake.hpp"

namespace core = guestkit::core;
namespace iface = guestkit::plugins::iface;
namespace fs = std::filesystem;
using guestkit::test::add_fake_nic;
using guestkit::test::TempDir;

TEST_CASE("iface names: plain Linux names pass, anything needing escaping does not", "[iface]") {
  for (const char* good : {"eth0", "ens5", "enp0s3", "eth0.100", "gk_pub-0", "wlp2s0", "a"})
    CHECK(iface::check_iface_name(good).ok());
  for (const char* bad : {"", "-eth0", ".x", "..", "eth0/x", "eth 0", "eth0:1", "a@b", "x\n",
                          "abcdefghijklmnop", "eth\\x2d0"}) {
    INFO(bad);
    auto r = iface::check_iface_name(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == core::Errc::bad_input);
  }
}

TEST_CASE("iface matching: globs take device-backed Ethernet NICs, exact names anything but lo",
          "[iface]") {
  TempDir t;
  add_fake_nic(t, {"eth1", 3, 1, "", "virtio_net"});
  add_fake_nic(t, {"ens5", 4, 1, "", "e1000"});
  add_fake_nic(t, {"eth9", 9, 1, "", ""});  // veth-like: no device
  add_fake_nic(t, {"eth0.100", 5, 1, "vlan", ""});
  add_fake_nic(t, {"ethbr0", 6, 1, "bridge", ""});
  add_fake_nic(t, {"eth2", 7, 1, "", "", true});  // tap
  add_fake_nic(t, {"wlan0", 8, 1, "wlan", "iwlwifi"});
  add_fake_nic(t, {"lo", 1, 772, "", ""});
  const auto root = t.root();
  core::IfaceConfig cfg;  // eth* ens* enp* eno*
  const auto why = [&](const char* name) {
    auto info = iface::read_iface(root, name);
    REQUIRE(info.ok());
    REQUIRE(info->present);
    return iface::why_not_handled(cfg, *info);
  };
  CHECK(why("eth1").empty());
  CHECK(why("ens5").empty());
  CHECK(why("eth9").find("virtual") == 0);
  CHECK(why("eth0.100").find("vlan interface") == 0);
  CHECK(why("ethbr0").find("bridge interface") == 0);
  CHECK(why("eth2").find("tun/tap interface") == 0);
  CHECK(why("wlan0") == "not in iface.match");
  CHECK(why("lo") == "loopback is never handled");

  auto info = iface::read_iface(root, "eth1");
  CHECK(info->ifindex == 3);
  CHECK(info->driver == "virtio_net");
  CHECK(info->kind() == "ethernet");
  CHECK_FALSE(iface::read_iface(root, "eth7")->present);

  // Named exactly, a virtual interface is taken; lo never is.
  cfg.match = {"eth9", "ethbr0", "lo", "eth*"};
  CHECK(why("eth9").empty());
  CHECK(why("ethbr0").empty());
  CHECK(why("lo") == "loopback is never handled");
  CHECK(why("eth2").find("tun/tap") == 0);

  // Present and handled, by interface index.
  auto handled = iface::handled_ifaces(root, cfg);
  REQUIRE(handled.ok());
  std::vector<std::string> names;
  for (const auto& h : *handled) names.push_back(h.name);
  CHECK(names == std::vector<std::string>{"eth1", "ethbr0", "eth9"});
}

TEST_CASE("iface names alone: what a remove can still tell", "[iface]") {
  core::IfaceConfig cfg;
  cfg.match = {"eth*", "gk0"};
  CHECK(iface::name_matches(cfg, "eth1"));
  CHECK(iface::name_matches(cfg, "gk0"));
  CHECK_FALSE(iface::name_matches(cfg, "gk01"));
  CHECK_FALSE(iface::name_matches(cfg, "veth3f2a"));
  cfg.match = {"*"};
  CHECK_FALSE(iface::name_matches(cfg, "lo"));
}

TEST_CASE("iface no_dhcp takes names and globs", "[iface]") {
  core::IfaceConfig cfg;
  cfg.no_dhcp = {"eth1", "ens1*"};
  CHECK(iface::is_no_dhcp(cfg, "eth1"));
  CHECK(iface::is_no_dhcp(cfg, "ens10"));
  CHECK_FALSE(iface::is_no_dhcp(cfg, "eth10"));
  CHECK_FALSE(iface::is_no_dhcp(cfg, "ens2"));
}

TEST_CASE("iface online CPUs from sysfs ranges", "[iface]") {
  TempDir t;
  CHECK(iface::online_cpus(t.root()) == 1);  // unreadable: one
  t.write("sys/devices/system/cpu/online", "0-3,6,8-9\n");
  CHECK(iface::online_cpus(t.root()) == 7);
  t.write("sys/devices/system/cpu/online", "0\n");
  CHECK(iface::online_cpus(t.root()) == 1);
}

TEST_CASE("iface state file round-trips and is removed with the pid and lease files", "[iface]") {
  TempDir t;
  const auto root = t.root();
  CHECK_FALSE(*iface::read_state(root, "eth1"));
  iface::State s;
  s.backend = "none";
  s.dhcp = "client";
  s.client = "dhclient";
  s.metric = 1027;
  REQUIRE(iface::write_state(root, "eth1", s).ok());
  t.write("run/guestkit/iface/eth1.pid", "123\n");
  t.write("run/guestkit/iface/eth1.leases", "lease {}\n");
  auto back = iface::read_state(root, "eth1");
  REQUIRE(back.ok());
  REQUIRE(*back);
  CHECK((*back)->backend == "none");
  CHECK((*back)->client == "dhclient");
  CHECK((*back)->metric == 1027);
  CHECK_FALSE((*back)->attached);

  // `attached` survives a rewrite that does not set it.
  s.attached = true;
  REQUIRE(iface::write_state(root, "eth1", s).ok());
  s.attached = false;
  s.client = "udhcpc";
  REQUIRE(iface::write_state(root, "eth1", s).ok());
  CHECK((*iface::read_state(root, "eth1"))->attached);
  CHECK(*iface::state_names(root) == std::vector<std::string>{"eth1"});

  CHECK(*iface::remove_state(root, "eth1"));
  for (const char* f : {"eth1.state", "eth1.pid", "eth1.leases"})
    CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface" / f));
  CHECK_FALSE(*iface::remove_state(root, "eth1"));
  CHECK_FALSE(*iface::remove_state(root, "eth2"));  // no directory at all: fine
}

TEST_CASE("iface state file is never written through a planted symlink", "[iface]") {
  TempDir t;
  fs::create_directories(t.path() / "run/guestkit");
  fs::create_directories(t.path() / "elsewhere");
  fs::create_directory_symlink(t.path() / "elsewhere", t.path() / "run/guestkit/iface");
  CHECK_FALSE(iface::write_state(t.root(), "eth1", {}).ok());
  CHECK(fs::is_empty(t.path() / "elsewhere"));
}

TEST_CASE("route record: round-trips, empty removes it, unreadable or malformed is an error",
          "[iface]") {
  TempDir t;
  const auto root = t.root();
  REQUIRE(iface::read_removed_routes(root).ok());
  CHECK(iface::read_removed_routes(root)->empty());  // no file: nothing removed

  namespace nl = guestkit::core::netlink;
  std::vector<iface::RemovedRoute> routes{{"eth1", 3, *nl::Ipv4::parse("198.51.100.1"), 1027},
                                          {"eth2", 4, *nl::Ipv4::parse("10.0.0.1"), 1028}};
  REQUIRE(iface::write_removed_routes(root, routes).ok());
  auto back = iface::read_removed_routes(root);
  REQUIRE(back.ok());
  CHECK(*back == routes);
  struct stat st {};
  REQUIRE(::stat((t.path() / "run/guestkit/iface/default-routes").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  // The interfaces' own state files are another matter: no name ends in .state.
  CHECK(iface::state_names(root)->empty());

  REQUIRE(iface::write_removed_routes(root, {}).ok());
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/iface/default-routes"));
  REQUIRE(iface::write_removed_routes(root, {}).ok());  // again: nothing to remove

  // Malformed: an error naming the file and line, never an empty list.
  for (const char* bad : {"eth1 3 198.51.100.1\n", "eth1 x 198.51.100.1 1027\n",
                          "eth1 3 198.51.100.256 1027\n", "../x 3 198.51.100.1 1027\n",
                          "eth1 3 198.51.100.1 1027 extra\n", "eth1 0 198.51.100.1 1027\n"}) {
    INFO(bad);
    t.write("run/guestkit/iface/default-routes", std::string("# comment\n") + bad);
    auto r = iface::read_removed_routes(root);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().find("default-routes:2:") != std::string::npos);
  }
  // Unreadable (a directory, a symlink, too big): an error too.
  fs::remove(t.path() / "run/guestkit/iface/default-routes");
  fs::create_directory(t.path() / "run/guestkit/iface/default-routes");
  CHECK_FALSE(iface::read_removed_routes(root).ok());
  fs::remove(t.path() / "run/guestkit/iface/default-routes");
  t.write("elsewhere", "eth1 3 198.51.100.1 1027\n");
  fs::create_symlink(t.path() / "elsewhere", t.path() / "run/guestkit/iface/default-routes");
  CHECK_FALSE(iface::read_removed_routes(root).ok());
  fs::remove(t.path() / "run/guestkit/iface/default-routes");
  t.write("run/guestkit/iface/default-routes", std::string(70 * 1024, '#'));
  CHECK_FALSE(iface::read_removed_routes(root).ok());
}

TEST_CASE("iface state: an unreadable state file is an error, never overwritten as if absent",
          "[iface]") {
  TempDir t;
  const std::string big = "CLIENT=dhclient\nATTACHED=yes\n" + std::string(70 * 1024, '#') + "\n";
  t.write("run/guestkit/iface/eth1.state", big);
  CHECK_FALSE(iface::read_state(t.root(), "eth1").ok());
  iface::State s;
  s.dhcp = "client";
  CHECK_FALSE(iface::write_state(t.root(), "eth1", s).ok());
  CHECK(t.read("run/guestkit/iface/eth1.state") == big);
}
