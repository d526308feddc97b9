// 05-mark-root-disk's parts on a temp root: which devices are the root disk's (sysfs
// as the kernel lays it out: a partition's directory inside its disk's), and the
// markers guestkit-disk@.service's ConditionPathExists=! reads.

#include <catch2/catch.hpp>
#include <filesystem>
#include <algorithm>
#include <sstream>

#include "plugins/boot/boot.hpp"
#include "tests/unit/boot_fixture.hpp"

namespace core = guestkit::core;
namespace boot = guestkit::plugins::boot;
namespace fs = std::filesystem;
using guestkit::test::snapshot;
using guestkit::test::TempDir;

namespace {

// A disk with partitions, as /sys/class/block and /sys/devices show it.
void fake_block(TempDir& t, const std::string& disk, const std::vector<std::string>& parts) {
  const std::string dir = "sys/devices/pci0000:00/virtio/block/" + disk;
  auto add = [&](const std::string& name, const std::string& d, bool partition) {
    t.write(d + "/dev", "254:0\n");  // not read by these functions
    t.write(d + "/size", "2097152\n");
    t.write(d + "/ro", "0\n");
    t.write(d + "/uevent",
            "DEVNAME=" + name + "\nDEVTYPE=" + (partition ? "partition" : "disk") + "\n");
    if (partition) t.write(d + "/partition", "1\n");
    fs::create_directories(t.path() / "sys/class/block");
    fs::create_symlink("../../" + d.substr(4), t.path() / "sys/class/block" / name);
  };
  add(disk, dir, false);
  for (const auto& p : parts) add(p, dir + "/" + p, true);
}

std::vector<std::string> marks(const TempDir& t) {
  std::vector<std::string> out;
  const auto dir = t.path() / "run/guestkit/root-disk";
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    CHECK(fs::is_regular_file(e.path()));
    CHECK(fs::file_size(e.path()) == 0);
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("the root disk's devices: the disk and every partition of it", "[boot-bootstrap]") {
  TempDir t;
  fake_block(t, "vda", {"vda1", "vda14", "vda15"});  // a Debian cloud image's layout
  fake_block(t, "vdb", {});                           // a data disk
  fake_block(t, "sdc", {"sdc1"});
  using V = std::vector<std::string>;
  CHECK(boot::root_disk_devices(t.root(), "vda1") == V{"vda", "vda1", "vda14", "vda15"});
  CHECK(boot::root_disk_devices(t.root(), "vda") == V{"vda", "vda1", "vda14", "vda15"});
  CHECK(boot::root_disk_devices(t.root(), "vdb") == V{"vdb"});
  CHECK(boot::root_disk_devices(t.root(), "sdc1") == V{"sdc", "sdc1"});
  CHECK(boot::root_disk_devices(t.root(), "nvme0n1p1").empty());  // not in sysfs
}

TEST_CASE("root disk markers: written once, stale ones removed, dry-run changes nothing",
          "[boot-bootstrap]") {
  TempDir t;
  core::Context ctx(t.root(), core::Config{});
  std::ostringstream out;
  ctx.out = &out;

  ctx.dry_run = true;
  const auto before = snapshot(t.path());
  auto r = boot::write_root_disk_marks(ctx, {"vda", "vda1"});
  REQUIRE(r);
  CHECK(*r);
  CHECK(snapshot(t.path()) == before);
  CHECK(out.str().find("would mark vda as a device of the root disk") != std::string::npos);

  ctx.dry_run = false;
  r = boot::write_root_disk_marks(ctx, {"vda", "vda1"});
  REQUIRE(r);
  CHECK(*r);
  CHECK(marks(t) == std::vector<std::string>{"vda", "vda1"});
  r = boot::write_root_disk_marks(ctx, {"vda", "vda1"});
  REQUIRE(r);
  CHECK_FALSE(*r);  // nothing to do the second time

  // Another root disk (boot.root_device changed, bootstrap run by hand): the old
  // markers go, or the old disk's units would never start again.
  r = boot::write_root_disk_marks(ctx, {"sdb"});
  REQUIRE(r);
  CHECK(*r);
  CHECK(marks(t) == std::vector<std::string>{"sdb"});
}

TEST_CASE("root disk markers: a symlink in their place is never written through",
          "[boot-bootstrap]") {
  TempDir t;
  t.write("etc/shadow", "root:*:1::::::\n");
  fs::create_directories(t.path() / "run/guestkit/root-disk");
  fs::create_symlink("../../../etc/shadow", t.path() / "run/guestkit/root-disk/vda");
  core::Context ctx(t.root(), core::Config{});
  // A name that is present counts as marked; the link is left alone, not followed.
  auto r = boot::write_root_disk_marks(ctx, {"vda"});
  REQUIRE(r);
  CHECK_FALSE(*r);
  CHECK(t.read("etc/shadow") == "root:*:1::::::\n");
  // Removed as stale when it is not a root disk's name: the link itself goes.
  r = boot::write_root_disk_marks(ctx, {"vdb"});
  REQUIRE(r);
  CHECK(*r);
  CHECK_FALSE(fs::is_symlink(t.path() / "run/guestkit/root-disk/vda"));
  CHECK(t.read("etc/shadow") == "root:*:1::::::\n");
  CHECK(fs::is_regular_file(t.path() / "run/guestkit/root-disk/vdb"));
}
