// Disk decisions through a fake Root: sysfs, mountinfo and /proc/swaps written by the
// test, device nodes that are small real filesystem images (probed by libblkid).

#include "plugins/disk/disk.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/exec.hpp"
#include "plugins/disk/label.hpp"
#include "plugins/disk/mounts.hpp"
#include "plugins/disk/records.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace dk = guestkit::plugins::disk;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

TEST_CASE("labels map to safe, reversible mountpoint names", "[disk]") {
  struct Case {
    std::string label, name;
  };
  const Case cases[] = {
      {"data", "data"},
      {"My Data", "My Data"},
      {"donn\xc3\xa9" "es", "donn\xc3\xa9" "es"},
      {"../../etc", "\\x2e.\\x2f..\\x2fetc"},
      {"..", "\\x2e."},
      {".hidden", "\\x2ehidden"},
      {"a/b", "a\\x2fb"},
      {"back\\slash", "back\\x5cslash"},
      {"tab\there", "tab\\x09here"},
      {std::string("nul\0x", 5), "nul\\x00x"},
      {"bad\xff" "utf8", "bad\\xffutf8"},
      {"\xc0\xaf", "\\xc0\\xaf"},  // overlong '/'
      {"a.b-c_d+e", "a.b-c_d+e"},
      {"", ""},
  };
  for (const auto& c : cases) {
    INFO(c.label);
    CHECK(dk::mountpoint_name(c.label) == c.name);
    if (!c.name.empty()) CHECK(dk::label_of_mountpoint_name(c.name) == c.label);
    CHECK(c.name.find('/') == std::string::npos);
    CHECK(c.name != "." );
    CHECK(c.name != "..");
  }
  // Distinct labels never share a name, even when one looks like another's escape.
  CHECK(dk::mountpoint_name("a/b") != dk::mountpoint_name("a\\x2fb"));
  CHECK(dk::mountpoint_name(std::string(300, 'x')).empty());  // too long: kernel name instead
  CHECK(dk::mountpoint_base(dk::Probe{"ext4", "filesystem", "", "", "", "", "", ""}, "vdb1") == "vdb1");
}

namespace {

// A VM as sysfs and procfs show it: vda (root, partition vda1), vdb (data, ext4
// "data"), vdc (GPT with vdc1, vdc2), vdd (swap in use), vde (under dm-0), sr0.
class FakeVm {
 public:
  FakeVm() {
    disk("vda", "254:0", 20u << 30);
    part("vda", "vda1", "254:1");
    disk("vdb", "254:16", 64u << 20);
    disk("vdc", "254:32", 64u << 20);
    part("vdc", "vdc1", "254:33");
    part("vdc", "vdc2", "254:34");
    disk("vdd", "254:48", 64u << 20);
    disk("vde", "254:64", 64u << 20);
    fs::create_directories(t.path() / "sys/devices/virtual/block/vde/holders/dm-0");
    t.write("proc/self/mountinfo",
            "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
            "23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw\n");
    t.write("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/dev/vdd\tpartition\t65532\t0\t-2\n");
    // /dev/vdd must be a block device with 254:48 for the swap check: tests that need it
    // are root-only (mknod).
    image("vdb", "ext4", "data");
    t.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n");
    t.write("etc/group", "root:x:0:\nweb:x:33:\ndata:x:1001:\n");
  }

  core::Context context(const std::string& extra_yaml = "") {
    core::Config cfg;
    if (!extra_yaml.empty()) {
      std::vector<std::string> errors;
      REQUIRE(core::apply_yaml(cfg, extra_yaml, "test.yml", errors));
    }
    return core::Context(t.root(), cfg);
  }

  TempDir t;

 private:
  void disk(const std::string& name, const std::string& devno, std::uint64_t bytes) {
    std::string dir = "sys/devices/virtual/block/" + name;
    t.write(dir + "/dev", devno + "\n");
    t.write(dir + "/size", std::to_string(bytes / 512) + "\n");
    t.write(dir + "/ro", "0\n");
    t.write(dir + "/uevent", "DEVNAME=" + name + "\nDEVTYPE=disk\n");
    link(name, dir, devno);
  }
  void part(const std::string& disk_name, const std::string& name, const std::string& devno) {
    std::string dir = "sys/devices/virtual/block/" + disk_name + "/" + name;
    t.write(dir + "/dev", devno + "\n");
    t.write(dir + "/size", "65536\n");
    t.write(dir + "/partition", "1\n");
    t.write(dir + "/uevent", "DEVNAME=" + name + "\nDEVTYPE=partition\n");
    link(name, dir, devno);
  }
  void link(const std::string& name, const std::string& dir, const std::string& devno) {
    fs::create_directories(t.path() / "sys/class/block");
    fs::create_directories(t.path() / "sys/dev/block");
    fs::create_symlink("../../" + dir.substr(4), t.path() / "sys/class/block" / name);
    fs::create_symlink("../../" + dir.substr(4), t.path() / "sys/dev/block" / devno);
  }
  void image(const std::string& name, const std::string& type, const std::string& label) {
    auto dev = t.path() / "dev" / name;
    fs::create_directories(dev.parent_path());
    { std::ofstream(dev).close(); }
    fs::resize_file(dev, 8u << 20);
    auto r = core::run({"mkfs." + type, "-q", "-L", label, dev.string()});
    REQUIRE(r);
    REQUIRE(r->success());
  }
};

}  // namespace

TEST_CASE("examine: a labelled ext4 data disk is selected", "[disk]") {
  if (!core::find_program("mkfs.ext4")) GUESTKIT_SKIP("mkfs.ext4 is not installed");
  FakeVm vm;
  auto ctx = vm.context();
  auto mounts = dk::MountTable::load(ctx.root);
  REQUIRE(mounts);
  auto ex = dk::examine(ctx, *mounts, "vdb");
  REQUIRE(ex);
  CHECK(ex->skip.empty());
  CHECK(ex->probe.type == "ext4");
  CHECK(ex->probe.label == "data");
  CHECK(ex->dev.devname == "/dev/vdb");
  CHECK(ex->dev.size_bytes == 64u << 20);
}

TEST_CASE("examine: the root disk, its partitions, holders and partitioned disks", "[disk]") {
  if (!core::find_program("mkfs.ext4")) GUESTKIT_SKIP("mkfs.ext4 is not installed");
  FakeVm vm;
  auto ctx = vm.context();
  auto mounts = dk::MountTable::load(ctx.root);
  REQUIRE(mounts);
  CHECK(dk::examine(ctx, *mounts, "vda")->skip == "on the root disk");
  CHECK(dk::examine(ctx, *mounts, "vda1")->skip == "on the root disk");
  CHECK(dk::examine(ctx, *mounts, "vde")->skip == "in use by dm-0 (md, dm or LVM)");
  auto vdc = dk::examine(ctx, *mounts, "vdc");
  REQUIRE(vdc);
  CHECK(vdc->skip.empty());
  CHECK(vdc->partitions == std::vector<std::string>{"vdc1", "vdc2"});
  CHECK(dk::read_block_device(ctx.root, "vdc1")->disk == "vdc");
  CHECK(dk::read_block_device(ctx.root, "vdc1")->partition);
  CHECK(dk::examine(ctx, *mounts, "nosuch").error().code == std::errc::no_such_file_or_directory);
}

// 05-mark-root-disk's marks (one empty file per device of the root disk) spare the
// mount stage's coldplug a disk-add that would only probe the device to refuse it.
TEST_CASE("coldplug: devices marked as the root disk's get no disk-add event", "[disk]") {
  if (!core::find_program("mkfs.ext4")) GUESTKIT_SKIP("mkfs.ext4 is not installed");
  FakeVm vm;
  auto ctx = vm.context();
  const auto objects = [&] {
    auto events = dk::coldplug_events(ctx);
    REQUIRE(events);
    std::vector<std::string> names;
    for (const auto& e : *events) {
      CHECK(e.trigger == "disk-add");
      names.push_back(e.object);
    }
    return names;
  };
  const auto has = [](const std::vector<std::string>& v, const std::string& n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  };
  // Unmarked, the root disk's partition is examined (and refused) by its event.
  auto before = objects();
  CHECK(has(before, "vda1"));
  CHECK(has(before, "vdb"));
  CHECK_FALSE(has(before, "vda"));  // partitioned: its partitions come on their own

  vm.t.write("run/guestkit/root-disk/vda", "");
  vm.t.write("run/guestkit/root-disk/vda1", "");
  auto after = objects();
  CHECK_FALSE(has(after, "vda1"));
  CHECK(after.size() == before.size() - 1);
  CHECK(has(after, "vdb"));  // the data disk is still added

  // Only a regular file is a mark: a directory of that name (or a link) is not ours.
  fs::remove(vm.t.path() / "run/guestkit/root-disk/vda1");
  fs::create_directories(vm.t.path() / "run/guestkit/root-disk/vda1");
  CHECK(has(objects(), "vda1"));
}

TEST_CASE("examine: a device listed in /proc/swaps is in use", "[disk]") {
  if (!guestkit::test::running_as_root()) GUESTKIT_SKIP("mknod of a fake /dev/vdd needs root");
  FakeVm vm;
  REQUIRE(::mknod((vm.t.path() / "dev/vdd").c_str(), S_IFBLK | 0600, makedev(254, 48)) == 0);
  auto ctx = vm.context();
  auto mounts = dk::MountTable::load(ctx.root);
  REQUIRE(mounts);
  CHECK(mounts->is_swap(makedev(254, 48)));
  CHECK(dk::examine(ctx, *mounts, "vdd")->skip == "in use as swap");
}

TEST_CASE("examine: disk.match and disk.ignore, partitions follow their disk", "[disk]") {
  if (!core::find_program("mkfs.ext4")) GUESTKIT_SKIP("mkfs.ext4 is not installed");
  FakeVm vm;
  auto ctx = vm.context("disk:\n  match: [\"sd*\"]\n");
  auto mounts = dk::MountTable::load(ctx.root);
  CHECK(dk::examine(ctx, *mounts, "vdb")->skip == "not selected by disk.match / disk.ignore");
  auto ign = vm.context("disk:\n  ignore: [vdc]\n");
  CHECK(dk::examine(ign, *mounts, "vdc1")->skip == "not selected by disk.match / disk.ignore");
  CHECK(dk::selected(ign.config, "vdb", "vdb"));
  CHECK(dk::selected(ign.config, "nvme0n1p1", "nvme0n1"));
  CHECK_FALSE(dk::selected(ign.config, "loop0", "loop0"));
}

TEST_CASE("attach under a non-host root reports what it would do and changes nothing", "[disk]") {
  if (!core::find_program("mkfs.ext4")) GUESTKIT_SKIP("mkfs.ext4 is not installed");
  FakeVm vm;
  auto ctx = vm.context("disk:\n  root: /data\n  owner: web\n  group: data\n");
  std::ostringstream out;
  ctx.out = &out;
  auto r = dk::attach(ctx, "vdb");
  REQUIRE(r);
  CHECK(*r == guestkit::plugins::Outcome::changed);
  CHECK(out.str() == "would mount " + (vm.t.path() / "dev/vdb").string() + " (ext4) at " +
                         (vm.t.path() / "data/data").string() + " with rw,nosuid,nodev,noatime\n");
  CHECK_FALSE(fs::exists(vm.t.path() / "data"));
  CHECK_FALSE(fs::exists(vm.t.path() / "run"));
  // An owner the guest does not have is an error naming its passwd file.
  auto bad = vm.context("disk:\n  owner: nobody-here\n");
  auto e = dk::attach(bad, "vdb");
  REQUIRE_FALSE(e);
  CHECK(e.error().message() == "'nobody-here' is not in " + (vm.t.path() / "etc/passwd").string());
}

TEST_CASE("detach and grow without a record have nothing to do", "[disk]") {
  FakeVm vm;
  auto ctx = vm.context();
  CHECK(*dk::detach(ctx, "vdb") == guestkit::plugins::Outcome::unchanged);
  CHECK(*dk::grow(ctx, "vdb") == guestkit::plugins::Outcome::skipped);
  CHECK_FALSE(dk::detach(ctx, "../x"));
}

TEST_CASE("records: a mount is the record's by the block device's number, or btrfs's with its node",
          "[disk]") {
  dk::DiskRecord ext4;
  ext4.name = "vdb";
  ext4.devname = "/dev/vdb";
  ext4.devno = "254:16";
  CHECK(dk::record_mount(ext4, makedev(254, 16), "/dev/vdb"));
  CHECK(dk::record_mount(ext4, makedev(254, 16), ""));  // the node may be gone
  CHECK_FALSE(dk::record_mount(ext4, makedev(254, 32), "/dev/vdc"));
  CHECK_FALSE(dk::record_mount(ext4, makedev(0, 41), "/dev/vdb"));

  dk::DiskRecord btrfs = ext4;
  btrfs.fs_devno = "0:41";
  CHECK(dk::record_mount(btrfs, makedev(0, 41), "/dev/vdb"));
  // The anonymous number freed by our unmount and given to another filesystem since.
  CHECK_FALSE(dk::record_mount(btrfs, makedev(0, 41), "/dev/vdc"));
  CHECK_FALSE(dk::record_mount(btrfs, makedev(0, 42), "/dev/vdb"));

  TempDir t;
  btrfs.mountpoint = "/srv/tree";
  REQUIRE(dk::write_record(t.root(), btrfs).ok());
  auto back = dk::read_record(t.root(), "vdb");
  REQUIRE(back.ok());
  REQUIRE(*back);
  CHECK((*back)->fs_devno == "0:41");
  CHECK((*back)->devno == "254:16");
}

TEST_CASE("detach under a non-host root: another device mounted at the recorded path is left alone",
          "[disk]") {
  FakeVm vm;
  vm.t.write("run/guestkit/disks/vdb",
             "{\"name\": \"vdb\", \"devname\": \"/dev/vdb\", \"devno\": \"254:16\", "
             "\"mountpoint\": \"/srv/data\", \"fstype\": \"ext4\"}\n");
  const std::string mp = (vm.t.path() / "srv/data").string();
  fs::create_directories(mp);
  // vdc1 is mounted there now, not vdb.
  vm.t.write("proc/self/mountinfo",
             "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
             "40 22 254:33 / " +
                 mp + " rw,relatime - ext4 /dev/vdc1 rw\n");
  auto ctx = vm.context();
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  auto r = dk::detach(ctx, "vdb");
  REQUIRE(r);
  CHECK(out.str() == "would leave " + mp + " mounted: it holds /dev/vdc1 (254:33), not 254:16 of " +
                         "the record\nwould remove the record of vdb\n");
  CHECK(out.str().find("hook") == std::string::npos);
  CHECK(out.str().find("unmount") == std::string::npos);

  // vdb itself there: the hook, the services and the unmount.
  vm.t.write("proc/self/mountinfo",
             "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
             "40 22 254:16 / " +
                 mp + " rw,relatime - ext4 /dev/vdb rw\n");
  out.str("");
  REQUIRE(dk::detach(ctx, "vdb"));
  CHECK(out.str().find("would run hook pre-disk-detach /dev/vdb " + mp) != std::string::npos);
  CHECK(out.str().find("would unmount " + mp + "\n") != std::string::npos);
  CHECK(fs::exists(vm.t.path() / "run/guestkit/disks/vdb"));  // a dry run changes nothing
}

TEST_CASE("mount roots from statx: the kernel's word since 5.8, another device before", "[disk]") {
  struct statx parent {
  }, name{};
  parent.stx_dev_major = 254;
  parent.stx_dev_minor = 1;
  name.stx_mode = S_IFDIR | 0755;
  name.stx_ino = 2;

  // Linux 5.8+: STATX_MNT_ID and STATX_ATTR_MOUNT_ROOT are what counts.
  name.stx_mask = STATX_TYPE | STATX_INO | STATX_MNT_ID;
  name.stx_attributes_mask = STATX_ATTR_MOUNT_ROOT;
  name.stx_attributes = STATX_ATTR_MOUNT_ROOT;
  name.stx_mnt_id = 77;
  name.stx_dev_major = 254;  // a bind mount of the parent's filesystem still counts
  name.stx_dev_minor = 1;
  auto m = dk::interpret_statx(name, parent);
  CHECK(m.is_mount_root);
  CHECK(m.mount_id == 77);
  CHECK(m.devno == makedev(254, 1));
  CHECK(m.ino == 2);
  name.stx_attributes = 0;  // a plain directory, even on another device
  name.stx_dev_minor = 16;
  CHECK_FALSE(dk::interpret_statx(name, parent).is_mount_root);

  // Before 5.8 (no mount id, no mount-root attribute): another device than the parent.
  name.stx_mask = STATX_TYPE | STATX_INO;
  name.stx_attributes_mask = 0;
  m = dk::interpret_statx(name, parent);
  CHECK(m.is_mount_root);
  CHECK(m.mount_id == 0);
  CHECK(m.devno == makedev(254, 16));
  name.stx_dev_minor = 1;
  CHECK_FALSE(dk::interpret_statx(name, parent).is_mount_root);

  // A symlink or a file is never a mount root here.
  name.stx_dev_minor = 16;
  name.stx_mode = S_IFLNK | 0777;
  CHECK_FALSE(dk::interpret_statx(name, parent).is_mount_root);

  // same_as: every part counts.
  dk::MountRoot a{true, makedev(254, 16), 2, 77}, b = a;
  CHECK(a.same_as(b));
  b.mount_id = 78;
  CHECK_FALSE(a.same_as(b));
  b = a;
  b.ino = 3;
  CHECK_FALSE(a.same_as(b));
}
