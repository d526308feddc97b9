// Device enumeration: sysfs replay under a root, libudev on the live system.

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/udev_device.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

// The shape of a real sysfs (captured on a Debian 12 VM): devices live under
// /sys/devices, classes and buses hold relative symlinks to them.
void add_device(const TempDir& t, const std::string& devdir, const std::string& link,
                const std::string& uevent) {
  t.write("sys/devices/" + devdir + "/uevent", uevent);
  fs::path l = t.path() / ("sys/" + link);
  fs::create_directories(l.parent_path());
  fs::path target = fs::relative(t.path() / ("sys/devices/" + devdir), l.parent_path());
  fs::create_symlink(target, l);
}

}  // namespace

TEST_CASE("sysfs enumeration of a bus (cpu) sorts naturally and resolves links", "[udev]") {
  TempDir t;
  for (const char* n : {"cpu0", "cpu10", "cpu2", "cpu1"})
    add_device(t, std::string("system/cpu/") + n, std::string("bus/cpu/devices/") + n,
               "MODALIAS=cpu:type:x86,ven0002fam0019mod0001:feature:,0000\n");
  auto en = core::make_sysfs_enumerator(t.root());
  auto cpus = en->enumerate("cpu");
  REQUIRE(cpus);
  REQUIRE(cpus->size() == 4);
  CHECK((*cpus)[0].sysname == "cpu0");
  CHECK((*cpus)[1].sysname == "cpu1");
  CHECK((*cpus)[2].sysname == "cpu2");
  CHECK((*cpus)[3].sysname == "cpu10");
  CHECK((*cpus)[3].syspath == "/sys/devices/system/cpu/cpu10");
  CHECK((*cpus)[0].subsystem == "cpu");
  CHECK((*cpus)[0].devname.empty());
  CHECK((*cpus)[0].properties.count("MODALIAS") == 1);
}

TEST_CASE("sysfs enumeration of a class (block) reads uevent", "[udev]") {
  TempDir t;
  add_device(t, "pci0000:00/0000:00:04.0/virtio1/block/vda", "class/block/vda",
             "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=9\n");
  add_device(t, "pci0000:00/0000:00:04.0/virtio1/block/vda/vda1", "class/block/vda1",
             "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\n");
  auto en = core::make_device_enumerator(t.root());  // not the host: sysfs replay
  auto disks = en->enumerate("block");
  REQUIRE(disks);
  REQUIRE(disks->size() == 2);
  CHECK((*disks)[0].devname == "/dev/vda");
  CHECK((*disks)[0].devtype == "disk");
  CHECK((*disks)[1].devname == "/dev/vda1");
  CHECK((*disks)[1].devtype == "partition");
  CHECK((*disks)[1].properties.at("PARTN") == "1");
  CHECK((*disks)[1].syspath == "/sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1");
  CHECK(en->enumerate("net")->empty());       // no such class: nothing, not an error
  CHECK_FALSE(en->enumerate("../etc"));        // but no path games
}

TEST_CASE("libudev enumeration sees the live system's memory devices", "[udev]") {
  if (!fs::exists("/sys/class/mem/null")) GUESTKIT_SKIP("/sys is not mounted here");
  auto en = core::make_libudev_enumerator();
  auto devs = en->enumerate("mem");
  REQUIRE(devs);
  bool found = false;
  for (const auto& d : *devs) {
    if (d.sysname != "null") continue;
    found = true;
    CHECK(d.devname == "/dev/null");
    CHECK(d.subsystem == "mem");
    CHECK(d.properties.at("MAJOR") == "1");
  }
  CHECK(found);
}

TEST_CASE("natural_less and parse_uevent", "[udev]") {
  CHECK(core::natural_less("cpu2", "cpu10"));
  CHECK_FALSE(core::natural_less("cpu10", "cpu2"));
  CHECK(core::natural_less("memory9", "memory10"));
  CHECK(core::natural_less("vda", "vdb"));
  CHECK(core::natural_less("vdb", "vdb1"));
  CHECK_FALSE(core::natural_less("vdb1", "vdb1"));
  CHECK(core::natural_less("a01", "a2"));
  auto p = core::parse_uevent("MAJOR=8\nDEVNAME=sda\n=bad\nnoeq\nEMPTY=\n");
  CHECK(p.size() == 3);
  CHECK(p.at("DEVNAME") == "sda");
  CHECK(p.at("EMPTY").empty());
}
