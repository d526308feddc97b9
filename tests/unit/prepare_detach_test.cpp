// prepare-detach's pure parts: its args, and the /proc texts it reads holders from.

#include <sys/sysmacros.h>

#include <catch2/catch.hpp>

#include "plugins/disk/holders.hpp"
#include "plugins/disk/prepare.hpp"
#include "plugins/disk/records.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace dk = guestkit::plugins::disk;
using nlohmann::json;

TEST_CASE("prepare-detach args name one disk one way", "[prepare-detach]") {
  auto a = dk::parse_detach_args(json{{"serial", "vol-42"}, {"force", true}});
  REQUIRE(a);
  CHECK(a->first.serial == "vol-42");
  CHECK(a->second);
  a = dk::parse_detach_args(json{{"pci", "0000:00:07.0"}});
  REQUIRE(a);
  CHECK_FALSE(a->second);
  for (const auto& bad :
       {json::object(), json{{"disk", "vdb"}, {"label", "data"}}, json{{"disk", ""}},
        json{{"disk", 3}}, json{{"pci", "00:07.0"}}, json{{"pci", "0000:00:07.9"}},
        json{{"label", "a\nb"}}, json{{"disk", "vdb"}, {"force", "yes"}}, json{{"device", "vdb"}},
        json{{"disk", std::string(300, 'a')}}}) {
    INFO(bad.dump());
    auto p = dk::parse_detach_args(bad);
    REQUIRE_FALSE(p);
    CHECK(p.error().code == core::Errc::bad_input);
  }
}

TEST_CASE("the unit of a process from its cgroup file, v2 and v1", "[prepare-detach]") {
  CHECK(dk::unit_of_cgroup("0::/system.slice/writer.service\n") == "writer.service");
  CHECK(dk::unit_of_cgroup("0::/system.slice/app.service/worker\n") == "app.service");
  CHECK(dk::unit_of_cgroup("0::/user.slice/user-0.slice/session-3.scope\n") == "session-3.scope");
  CHECK(dk::unit_of_cgroup("12:memory:/x\n1:name=systemd:/system.slice/db.service\n") ==
        "db.service");
  CHECK(dk::unit_of_cgroup("0::/\n").empty());
  CHECK(dk::unit_of_cgroup("").empty());
}

TEST_CASE("mapped devices from a maps text, anonymous memory left out", "[prepare-detach]") {
  const std::string maps =
      "55d0c0a00000-55d0c0a02000 r--p 00000000 fe:01 1835128                    /usr/bin/tail\n"
      "7f1c2c000000-7f1c2c021000 rw-p 00000000 00:00 0 \n"
      "7f1c2d000000-7f1c2d100000 r--s 00000000 07:00 12                         /srv/data/db\n"
      "7f1c2d200000-7f1c2d300000 r--s 00000000 103:1a 12                        /srv/nv/x\n"
      "garbage\n";
  const auto devs = dk::mapped_devices(maps);
  REQUIRE(devs.size() == 3);
  CHECK(devs[0] == makedev(0xfe, 1));
  CHECK(devs[1] == makedev(7, 0));
  CHECK(devs[2] == makedev(0x103, 0x1a));
}

TEST_CASE("a disk is resolved from its records by label and mountpoint, never ambiguously",
          "[prepare-detach]") {
  guestkit::test::TempDir t;
  const core::Context ctx(t.root(), core::Config{});
  for (auto [name, label, mp] :
       {std::tuple{"vdb1", "data", "/srv/data"}, std::tuple{"vdb2", "logs", "/srv/logs"},
        std::tuple{"vdc", "data", "/srv/data_2"}}) {
    dk::DiskRecord r;
    r.name = name;
    r.devname = std::string("/dev/") + name;
    r.label = label;
    r.mountpoint = mp;
    REQUIRE(dk::write_record(t.root(), r));
  }
  dk::DiskSelector sel;
  sel.label = "logs";
  auto d = dk::resolve_disk(ctx, sel);
  REQUIRE(d);
  CHECK(*d == "vdb");  // the partition's disk (its node is gone from this tree)
  sel = {};
  sel.mountpoint = "/srv/data_2";
  d = dk::resolve_disk(ctx, sel);
  REQUIRE(d);
  CHECK(*d == "vdc");
  sel = {};
  sel.label = "data";
  d = dk::resolve_disk(ctx, sel);
  REQUIRE_FALSE(d);
  CHECK(d.error().message().find("several disks (vdb, vdc)") != std::string::npos);
  sel = {};
  sel.name = "/dev/vdb2";
  d = dk::resolve_disk(ctx, sel);
  REQUIRE(d);
  CHECK(*d == "vdb");
}

namespace {

// /sys/class/block/NAME -> ../../devices/pci0000:00/PCI/virtioN/block/NAME, as virtio-blk has it.
void virtio_disk(const guestkit::test::TempDir& t, const std::string& name, const std::string& pci,
                 const std::string& devno, const std::string& serial) {
  const std::string dir = "sys/devices/pci0000:00/" + pci + "/virtio3/block/" + name;
  t.write(dir + "/dev", devno + "\n");
  t.write(dir + "/size", "131072\n");
  t.write(dir + "/uevent", "DEVNAME=" + name + "\nDEVTYPE=disk\n");
  if (!serial.empty()) t.write(dir + "/serial", serial + "\n");
  std::filesystem::create_directories(t.path() / "sys/class/block");
  std::filesystem::create_directories(t.path() / "sys/dev/block");
  std::filesystem::create_symlink("../../" + dir.substr(4), t.path() / "sys/class/block" / name);
  std::filesystem::create_symlink("../../" + dir.substr(4), t.path() / "sys/dev/block" / devno);
}

}  // namespace

TEST_CASE("a disk is resolved by the serial or PCI address the platform gave it",
          "[prepare-detach]") {
  guestkit::test::TempDir t;
  const core::Context ctx(t.root(), core::Config{});
  virtio_disk(t, "vdb", "0000:00:07.0", "254:16", "vol-8f3a");
  virtio_disk(t, "vdc", "0000:00:08.0", "254:32", "vol-77");
  dk::DiskSelector sel;
  sel.serial = "vol-77";
  auto d = dk::resolve_disk(ctx, sel);
  REQUIRE(d);
  CHECK(*d == "vdc");
  sel = {};
  sel.pci = "0000:00:07.0";
  d = dk::resolve_disk(ctx, sel);
  REQUIRE(d);
  CHECK(*d == "vdb");
  sel = {};
  sel.pci = "0000:00:0a.0";  // a prefix of no address: never a partial match
  d = dk::resolve_disk(ctx, sel);
  REQUIRE_FALSE(d);
  CHECK(d.error().code == core::Errc::bad_input);
  sel = {};
  sel.serial = "vol-8";  // nor of a serial
  REQUIRE_FALSE(dk::resolve_disk(ctx, sel));
  sel = {};
  sel.name = "vdz";
  REQUIRE_FALSE(dk::resolve_disk(ctx, sel));
}
