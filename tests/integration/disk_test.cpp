// guestkit-disk on real loop devices with real filesystems (tests/integration/disk_fixture.hpp).

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "plugins/disk/mounts.hpp"
#include "tests/integration/disk_fixture.hpp"
#include "tests/support.hpp"

namespace fs = std::filesystem;
using guestkit::test::DiskLab;

namespace {

bool has_option(const std::string& mountinfo_line, const std::string& option) {
  // Field 6 holds the per-mount options: "... /target rw,nosuid,nodev,noatime ..."
  std::istringstream is(mountinfo_line);
  std::string f;
  for (int i = 0; i < 6 && is >> f; ++i) {}
  return ("," + f + ",").find("," + option + ",") != std::string::npos;
}

bool filesystem_supported(const std::string& type) {
  std::ifstream in("/proc/filesystems");
  for (std::string line; std::getline(in, line);)
    if (line.substr(line.find('\t') + 1) == type) return true;
  return false;
}

bool has_capability(int cap) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> cap) & 1;
  return false;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("an ext4 disk mounts at its label, with options, record and hooks, and detaches clean",
          "[disk]") {
  DiskLab lab;
  lab.add_logging_hook("post-disk-attach");
  lab.add_logging_hook("pre-disk-detach");
  auto loop = lab.add_loop(64);
  lab.must({"mkfs.ext4", "-q", "-L", "data", "/dev/" + loop});

  auto add = lab.disk({"add", loop});
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  auto mp = lab.srv() / "data";
  auto line = lab.mountinfo_of(mp);
  REQUIRE_FALSE(line.empty());
  for (const char* o : {"rw", "nosuid", "nodev", "noatime"}) CHECK(has_option(line, o));
  CHECK(line.find(" ext4 /dev/" + loop + " ") != std::string::npos);
  auto st = stat_of(mp);
  CHECK(st.st_uid == 0);
  CHECK((st.st_mode & 07777) == 0755);
  auto record = std::ifstream("/run/guestkit/disks/" + loop);
  REQUIRE(record);
  std::string rec((std::istreambuf_iterator<char>(record)), {});
  CHECK(rec.find("\"mountpoint\": \"" + mp.string() + "\"") != std::string::npos);
  CHECK(rec.find("\"fstype\": \"ext4\"") != std::string::npos);
  CHECK(lab.hooks_log() == "post-disk-attach /dev/" + loop + " ext4 " + mp.string() + "\n");

  // The same event again changes nothing and runs no hook.
  auto again = lab.disk({"add", loop});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("10-mount-disk: unchanged") != std::string::npos);
  CHECK(lab.hooks_log() == "post-disk-attach /dev/" + loop + " ext4 " + mp.string() + "\n");

  auto status = lab.disk({"--status"});
  CHECK(status.exit_code == 0);
  CHECK(status.out.find(loop) != std::string::npos);
  CHECK(status.out.find("mounted") != std::string::npos);

  auto rm = lab.disk({"remove", loop});
  INFO(rm.err);
  CHECK(rm.exit_code == 0);
  CHECK(lab.mountinfo_of(mp).empty());
  CHECK_FALSE(fs::exists(mp));
  CHECK_FALSE(fs::exists("/run/guestkit/disks/" + loop));
  CHECK(lab.hooks_log().find("pre-disk-detach /dev/" + loop + " " + mp.string() + "\n") != std::string::npos);
  // Removing again is harmless.
  CHECK(lab.disk({"remove", loop}).exit_code == 0);
}

TEST_CASE("an xfs disk mounts at its label and a pristine root takes owner and mode", "[disk]") {
  DiskLab lab;
  lab.set_disk_config("  owner: \"0\"\n  group: \"1001\"\n  mode: \"0775\"\n");
  auto x = lab.add_loop(320);
  lab.must({"mkfs.xfs", "-q", "-L", "logs", "/dev/" + x});
  auto rx = lab.disk({"add", x});
  INFO(rx.err);
  CHECK(rx.exit_code == 0);
  CHECK(lab.mountinfo_of(lab.srv() / "logs").find(" xfs ") != std::string::npos);
  auto sx = stat_of(lab.srv() / "logs");
  CHECK(sx.st_uid == 0);
  CHECK(sx.st_gid == 1001);
  CHECK((sx.st_mode & 07777) == 0775);
  // Not pristine any more: a customer's chown survives detach and re-attach.
  REQUIRE(::chown((lab.srv() / "logs").c_str(), 33, 33) == 0);
  lab.dir().write("srv/logs/app.log", "x");
  CHECK(lab.disk({"remove", x}).exit_code == 0);
  CHECK(lab.disk({"add", x}).exit_code == 0);
  CHECK(stat_of(lab.srv() / "logs").st_uid == 33);
}

TEST_CASE("a btrfs disk, whose mount reports another device number, is still recognised as ours",
          "[disk]") {
  // btrfs gives its mounts an anonymous device number (0:NN), not the block device's:
  // the record keeps both, so a replayed add and the remove recognise the mount.
  if (!guestkit::core::find_program("mkfs.btrfs"))
    guestkit::test::skip("mkfs.btrfs is not installed (btrfs-progs, scripts/setup installs it)");
  if (!filesystem_supported("btrfs")) guestkit::test::skip("this kernel has no btrfs support");
  DiskLab lab;
  lab.add_logging_hook("pre-disk-detach");
  auto loop = lab.add_loop(128);
  lab.must({"mkfs.btrfs", "-q", "-L", "tree", "/dev/" + loop});
  auto add = lab.disk({"add", loop});
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  const auto mp = lab.srv() / "tree";
  REQUIRE(lab.mountinfo_of(mp).find(" btrfs /dev/" + loop + " ") != std::string::npos);

  auto again = lab.disk({"add", loop});
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("10-mount-disk: unchanged") != std::string::npos);
  CHECK(lab.disk({"--status"}).out.find("mounted") != std::string::npos);

  std::ifstream record("/run/guestkit/disks/" + loop);
  std::string rec((std::istreambuf_iterator<char>(record)), {});
  CHECK(rec.find("\"fs_devno\": \"0:") != std::string::npos);

  auto rm = lab.disk({"remove", loop});
  INFO(rm.err);
  CHECK(rm.exit_code == 0);
  CHECK(lab.mountinfo_of(mp).empty());
  CHECK_FALSE(fs::exists(mp));
  CHECK(lab.hooks_log() == "pre-disk-detach /dev/" + loop + " " + mp.string() + "\n");

  // Another btrfs mounted by hand where ours was: its anonymous number may be the one
  // ours had (freed at the unmount), its device node is not: left alone.
  auto other = lab.add_loop(128);
  lab.must({"mkfs.btrfs", "-q", "-L", "other", "/dev/" + other});
  REQUIRE(lab.disk({"add", loop}).exit_code == 0);
  lab.must({"umount", mp.string()});
  lab.must({"mount", "/dev/" + other, mp.string()});
  auto rm2 = lab.disk({"remove", loop});
  INFO(rm2.err);
  CHECK(rm2.exit_code == 0);
  CHECK(lab.mountinfo_of(mp).find(" btrfs /dev/" + other + " ") != std::string::npos);
  CHECK(rm2.err.find("leaving it mounted, running no hook") != std::string::npos);
  CHECK(lab.hooks_log() == "pre-disk-detach /dev/" + loop + " " + mp.string() + "\n");
}

TEST_CASE("a vfat disk gets ownership and mode as mount options", "[disk]") {
  if (!filesystem_supported("vfat")) GUESTKIT_SKIP("this kernel has no vfat support (not in /proc/filesystems)");
  DiskLab lab;
  lab.set_disk_config("  owner: \"0\"\n  group: \"1001\"\n  mode: \"0775\"\n");
  auto v = lab.add_loop(64);
  lab.must({"mkfs.vfat", "-n", "USB", "/dev/" + v});
  auto rv = lab.disk({"add", v});
  INFO(rv.err);
  CHECK(rv.exit_code == 0);
  auto line = lab.mountinfo_of(lab.srv() / "USB");
  REQUIRE_FALSE(line.empty());
  CHECK(line.find("gid=1001") != std::string::npos);
  auto st = stat_of(lab.srv() / "USB");
  CHECK(st.st_gid == 1001);
  CHECK((st.st_mode & 0777) == 0775);
}

TEST_CASE("swap, blank and unlabelled disks", "[disk]") {
  DiskLab lab;
  auto swap = lab.add_loop(32);
  auto blank = lab.add_loop(32);
  auto nolabel = lab.add_loop(32);
  lab.must({"mkswap", "/dev/" + swap});
  lab.must({"mkfs.ext4", "-q", "/dev/" + nolabel});
  auto s = lab.disk({"add", swap});
  CHECK(s.exit_code == 0);
  CHECK(s.err.find(swap + ": holds swap, ignoring") != std::string::npos);
  auto b = lab.disk({"add", blank});
  CHECK(b.exit_code == 0);
  CHECK(b.err.find(blank + ": no filesystem, ignoring") != std::string::npos);
  CHECK(fs::is_empty(lab.srv()));
  auto n = lab.disk({"add", nolabel});
  CHECK(n.exit_code == 0);
  CHECK_FALSE(lab.mountinfo_of(lab.srv() / nolabel).empty());  // kernel name
}

TEST_CASE("a GPT disk with two labelled partitions mounts each", "[disk]") {
  DiskLab lab;
  auto loop = lab.add_loop(96, true);
  {
    auto script = lab.dir().write("layout", "label: gpt\n,40M,L\n,40M,L\n");
    guestkit::core::ExecOptions o;
    o.stdin_data = lab.dir().read("layout");
    auto r = guestkit::core::run({"sfdisk", "--quiet", "/dev/" + loop}, o);
    REQUIRE(r);
    INFO(r->err);
    REQUIRE(r->success());
    (void)script;
  }
  lab.must({"partx", "--update", "/dev/" + loop});
  lab.must({"mkfs.ext4", "-q", "-L", "alpha", "/dev/" + loop + "p1"});
  lab.must({"mkfs.ext4", "-q", "-L", "beta", "/dev/" + loop + "p2"});
  auto r = lab.disk({"add", loop});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(lab.mountinfo_of(lab.srv() / "alpha").find("/dev/" + loop + "p1") != std::string::npos);
  CHECK(lab.mountinfo_of(lab.srv() / "beta").find("/dev/" + loop + "p2") != std::string::npos);
  // The partition's own event afterwards is a no-op.
  CHECK(lab.disk({"add", loop + "p1"}).err.find("unchanged") != std::string::npos);
  CHECK(lab.disk({"remove", loop + "p1"}).exit_code == 0);
  CHECK(lab.disk({"remove", loop + "p2"}).exit_code == 0);
  CHECK(fs::is_empty(lab.srv()));
}

TEST_CASE("two disks with one label attached at once get distinct mountpoints", "[disk]") {
  DiskLab lab;
  auto a = lab.add_loop(32);
  auto b = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "same", "/dev/" + a});
  lab.must({"mkfs.ext4", "-q", "-L", "same", "/dev/" + b});
  guestkit::core::ExecResult ra, rb;
  std::thread ta([&] { ra = lab.disk({"add", a}); });
  std::thread tb([&] { rb = lab.disk({"add", b}); });
  ta.join();
  tb.join();
  CHECK(ra.exit_code == 0);
  CHECK(rb.exit_code == 0);
  auto one = lab.mountinfo_of(lab.srv() / "same");
  auto two = lab.mountinfo_of(lab.srv() / "same_2");
  REQUIRE_FALSE(one.empty());
  REQUIRE_FALSE(two.empty());
  // One each, never both on one path.
  CHECK((one.find("/dev/" + a + " ") != std::string::npos) != (two.find("/dev/" + a + " ") != std::string::npos));
  // And a run record each (0.1.0 kept one runs/disk-add.json: the last event's).
  for (const auto& name : {a, b}) {
    INFO(name);
    std::ifstream in("/run/guestkit/runs/disk-add/" + name + ".json");
    const std::string text{std::istreambuf_iterator<char>(in), {}};
    CHECK(text.find("\"object\": \"" + name + "\"") != std::string::npos);
    CHECK(text.find("\"status\": \"changed\"") != std::string::npos);
  }
}

TEST_CASE("hostile and unusual labels stay inside disk.root, reversibly named", "[disk]") {
  DiskLab lab;
  auto evil = lab.add_loop(32);
  auto nice = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "../../etc", "/dev/" + evil});
  lab.must({"mkfs.ext4", "-q", "-L", "My Données", "/dev/" + nice});
  CHECK(lab.disk({"add", evil}).exit_code == 0);
  CHECK(lab.disk({"add", nice}).exit_code == 0);
  CHECK_FALSE(lab.mountinfo_of(lab.srv() / "\\x2e.\\x2f..\\x2fetc").empty());
  CHECK_FALSE(lab.mountinfo_of(lab.srv() / "My Données").empty());
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(lab.srv())) ++entries;
  CHECK(entries == 2);
  CHECK(lab.mountinfo_of("/etc").empty());
}

TEST_CASE("a planted symlink or a non-empty directory is never a mountpoint", "[disk]") {
  DiskLab lab;
  guestkit::test::TempDir victim;
  fs::create_symlink(victim.path(), lab.srv() / "data");
  fs::create_directories(lab.srv() / "data_2");
  lab.dir().write("srv/data_2/keep", "user file");
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "data", "/dev/" + loop});
  auto r = lab.disk({"add", loop});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("is a symbolic link, never a mountpoint") != std::string::npos);
  CHECK(fs::is_empty(victim.path()));
  CHECK(lab.mountinfo_of(victim.path()).empty());
  CHECK(lab.dir().read("srv/data_2/keep") == "user file");
  CHECK_FALSE(lab.mountinfo_of(lab.srv() / "data_3").empty());
}

namespace {

// Attach, grow the image under the mounted filesystem, send "change", check it grew.
void grow_test(const std::string& mkfs, std::size_t from_mib, std::size_t to_mib) {
  DiskLab lab;
  auto loop = lab.add_loop(from_mib);
  lab.must({mkfs, "-q", "-L", "grow", "/dev/" + loop});
  REQUIRE(lab.disk({"add", loop}).exit_code == 0);
  auto mp = lab.srv() / "grow";
  struct statvfs before {};
  REQUIRE(::statvfs(mp.c_str(), &before) == 0);
  fs::resize_file(lab.image_of(loop), to_mib << 20);
  lab.must({"losetup", "--set-capacity", "/dev/" + loop});
  auto r = lab.disk({"change", loop});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("10-grow-disk: changed") != std::string::npos);
  struct statvfs after {};
  REQUIRE(::statvfs(mp.c_str(), &after) == 0);
  CHECK(after.f_blocks * after.f_frsize > (to_mib - from_mib) / 2 * (1u << 20) + before.f_blocks * before.f_frsize);
  CHECK(lab.disk({"change", loop}).err.find("10-grow-disk: unchanged") != std::string::npos);
}

}  // namespace

TEST_CASE("an xfs disk grown while attached is grown in place by change", "[disk]") {
  grow_test("mkfs.xfs", 320, 640);
}

TEST_CASE("an ext4 disk grown while attached is grown in place by change", "[disk]") {
  // Online ext4 resize (EXT4_IOC_RESIZE_FS) needs CAP_SYS_RESOURCE.
  if (!has_capability(24)) GUESTKIT_SKIP("no CAP_SYS_RESOURCE here: the kernel refuses online ext4 resize");
  grow_test("mkfs.ext4", 64, 256);
}

TEST_CASE("the udev environment path reaches the same code", "[disk]") {
  DiskLab lab;
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "fromudev", "/dev/" + loop});
  auto r = lab.disk({}, {{"ACTION", "add"},
                         {"SUBSYSTEM", "block"},
                         {"DEVTYPE", "disk"},
                         {"DEVNAME", "/dev/" + loop},
                         {"DEVPATH", "/devices/virtual/block/" + loop}});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(lab.mountinfo_of(lab.srv() / "fromudev").empty());
  // Another subsystem's event is not ours.
  auto net = lab.disk({}, {{"ACTION", "add"}, {"SUBSYSTEM", "net"}, {"DEVPATH", "/devices/virtual/net/x"}});
  CHECK(net.exit_code == 0);
}

TEST_CASE("coldplug mounts what is present, reconciles vanished records, then has nothing to do",
          "[disk]") {
  DiskLab lab;
  auto a = lab.add_loop(32);
  auto b = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "cold-a", "/dev/" + a});
  lab.must({"mkfs.ext4", "-q", "-L", "cold-b", "/dev/" + b});
  // A record left by a disk that is gone, with its (empty) mountpoint.
  fs::create_directories(lab.srv() / "ghost");
  fs::create_directories("/run/guestkit/disks");
  std::ofstream("/run/guestkit/disks/loop250")
      << "{\"name\": \"loop250\", \"devname\": \"/dev/loop250\", \"devno\": \"7:250\", \"mountpoint\": \""
      << (lab.srv() / "ghost").string() << "\", \"fstype\": \"ext4\"}\n";
  auto r = lab.disk({"--coldplug"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(lab.mountinfo_of(lab.srv() / "cold-a").empty());
  CHECK_FALSE(lab.mountinfo_of(lab.srv() / "cold-b").empty());
  CHECK_FALSE(fs::exists("/run/guestkit/disks/loop250"));
  CHECK_FALSE(fs::exists(lab.srv() / "ghost"));
  // The driver ran each as its own event: the vanished disk's remove first, then an
  // add per disk, each with its record.
  const auto removed = r.err.find("disk-remove: 1 plugin");
  const auto added_a = r.err.find("10-mount-disk: changed");
  CHECK(removed < added_a);
  CHECK(added_a != std::string::npos);
  for (const std::string& rec :
       {std::string("disk-remove/loop250"), "disk-add/" + a, "disk-add/" + b})
    CHECK(fs::exists("/run/guestkit/runs/" + rec + ".json"));
  auto again = lab.disk({"--coldplug"});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find(": changed (") == std::string::npos);
}

TEST_CASE("remove works from the record when the device is already gone", "[disk]") {
  DiskLab lab;
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "gone", "/dev/" + loop});
  REQUIRE(lab.disk({"add", loop}).exit_code == 0);
  // Detach the loop device under the mount: the kernel keeps it until unmount, but
  // its node and sysfs entry are going away, as with a disk pulled by the platform.
  lab.must({"losetup", "-d", "/dev/" + loop});
  auto r = lab.disk({"remove", loop});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(lab.mountinfo_of(lab.srv() / "gone").empty());
  CHECK_FALSE(fs::exists(lab.srv() / "gone"));
}

TEST_CASE("a remove event never touches another disk mounted since at the recorded path",
          "[disk]") {
  // Disk A is mounted at /srv/stale by guestkit; the admin unmounts it and mounts disk
  // B there. A's remove event must not run A's hook on B, read B's services, nor
  // unmount B: the mount there is not the device of the record.
  DiskLab lab;
  lab.add_logging_hook("pre-disk-detach");
  auto a = lab.add_loop(32);
  auto b = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "stale", "/dev/" + a});
  lab.must({"mkfs.ext4", "-q", "-L", "other", "/dev/" + b});
  REQUIRE(lab.disk({"add", a}).exit_code == 0);
  const auto mp = lab.srv() / "stale";
  REQUIRE(lab.mountinfo_of(mp).find(" /dev/" + a + " ") != std::string::npos);

  lab.must({"umount", mp.string()});
  lab.must({"mount", "/dev/" + b, mp.string()});
  fs::create_directories(mp / ".guestkit");
  std::ofstream(mp / ".guestkit/services") << "bservice\n";
  struct stat b_root {};
  REQUIRE(::stat(mp.c_str(), &b_root) == 0);

  auto status = lab.disk({"--status"});
  CHECK(status.out.find("stale") != std::string::npos);  // the state column: B is not A
  CHECK(status.out.find("mounted") == std::string::npos);

  auto rm = lab.disk({"remove", a});
  INFO(rm.err);
  CHECK(rm.exit_code == 0);
  // B is still mounted there, untouched; A's hook never ran; B's services were not read.
  CHECK(lab.mountinfo_of(mp).find(" /dev/" + b + " ") != std::string::npos);
  struct stat after {};
  REQUIRE(::stat(mp.c_str(), &after) == 0);
  CHECK(after.st_dev == b_root.st_dev);
  CHECK(lab.hooks_log().empty());
  CHECK(rm.err.find("bservice") == std::string::npos);
  // A's record is cleaned, and the log says why nothing else was done.
  CHECK_FALSE(fs::exists("/run/guestkit/disks/" + a));
  CHECK(rm.err.find(a + ": " + mp.string() + " now holds ext4 /dev/" + b) != std::string::npos);
  CHECK(rm.err.find("leaving it mounted, running no hook, dropping the stale record") !=
        std::string::npos);
  CHECK(lab.disk({"remove", a}).err.find("not mounted by guestkit, nothing to detach") !=
        std::string::npos);
}

TEST_CASE("a disk still in use is detached lazily on remove", "[disk]") {
  DiskLab lab;
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "busy", "/dev/" + loop});
  REQUIRE(lab.disk({"add", loop}).exit_code == 0);
  const auto mp = lab.srv() / "busy";
  lab.dir().write("srv/busy/open", "data");
  std::ifstream held(mp / "open");  // a process using the disk
  REQUIRE(held);
  auto rm = lab.disk({"remove", loop});
  INFO(rm.err);
  CHECK(rm.exit_code == 0);
  CHECK(rm.err.find(mp.string() + " is busy, detaching it lazily") != std::string::npos);
  CHECK(lab.mountinfo_of(mp).empty());
  CHECK_FALSE(fs::exists("/run/guestkit/disks/" + loop));
  std::string text;
  CHECK(std::getline(held, text));  // the process keeps its file
  CHECK(text == "data");
}

TEST_CASE("a failing disk hook fails its plugin (exit 1) and the work is still done", "[disk]") {
  DiskLab lab;
  const auto log = lab.dir().path() / "hooks.log";
  for (const char* hook : {"post-disk-attach", "pre-disk-detach"})
    lab.dir().write(
        std::string("hooks/") + hook,
        std::string("#!/bin/sh\necho \"") + hook + " $*\" >> \"" + log.string() + "\"\nexit 1\n",
        0755);
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "hookfail", "/dev/" + loop});
  const auto mp = lab.srv() / "hookfail";

  auto add = lab.disk({"add", loop});
  INFO(add.err);
  CHECK(add.exit_code == 1);  // partial, as README and the unit say
  CHECK(add.err.find("10-mount-disk: failed") != std::string::npos);
  CHECK(add.err.find("post-disk-attach") != std::string::npos);
  // The disk stays mounted and recorded; a replayed event does not repeat the hook.
  CHECK_FALSE(lab.mountinfo_of(mp).empty());
  CHECK(fs::exists("/run/guestkit/disks/" + loop));
  auto again = lab.disk({"add", loop});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("10-mount-disk: unchanged") != std::string::npos);
  CHECK(lab.hooks_log() == "post-disk-attach /dev/" + loop + " ext4 " + mp.string() + "\n");

  auto rm = lab.disk({"remove", loop});
  INFO(rm.err);
  CHECK(rm.exit_code == 1);
  CHECK(rm.err.find("90-unmount-disk: failed") != std::string::npos);
  // The detach went on: unmounted, directory and record gone.
  CHECK(lab.mountinfo_of(mp).empty());
  CHECK_FALSE(fs::exists(mp));
  CHECK_FALSE(fs::exists("/run/guestkit/disks/" + loop));
}

TEST_CASE("services listed on the disk are validated before anything runs", "[disk]") {
  DiskLab lab;
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "svc", "/dev/" + loop});
  REQUIRE(lab.disk({"add", loop}).exit_code == 0);
  fs::create_directories(lab.srv() / "svc/.guestkit");
  std::ofstream(lab.srv() / "svc/.guestkit/services") << "# comment\n../../bin/reboot\nrm -rf /\nmyapp\n";
  auto r = lab.disk({"remove", loop});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("service name '../../bin/reboot' in .guestkit/services is not valid, ignoring") != std::string::npos);
  CHECK(r.err.find("service name 'rm -rf /' in .guestkit/services is not valid, ignoring") != std::string::npos);
  CHECK(r.err.find("service myapp") != std::string::npos);  // no /etc/init.d/myapp here: logged
  CHECK(lab.mountinfo_of(lab.srv() / "svc").empty());
}

TEST_CASE("bad device names, disk.enabled false, the root disk", "[disk]") {
  DiskLab lab;
  for (const char* bad : {"../../etc/passwd", "/dev/../x", "vd b"}) {
    auto r = lab.disk({"add", bad});
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("invalid device name") != std::string::npos);
  }
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "off", "/dev/" + loop});
  lab.set_disk_config("  enabled: false\n");
  CHECK(lab.disk({"add", loop}).exit_code == 0);
  CHECK(fs::is_empty(lab.srv()));
}

TEST_CASE("the real root disk, matched by the pattern, is never touched", "[disk]") {
  DiskLab lab;
  // Dry run: even a bug could not mount over anything.
  std::ifstream mi("/proc/self/mountinfo");
  std::string line, rootdev;
  while (std::getline(mi, line)) {
    std::istringstream is(line);
    std::string f[5];
    for (auto& x : f) is >> x;
    if (f[4] == "/") {
      auto dash = line.find(" - ");
      std::istringstream tail(line.substr(dash + 3));
      std::string type, src;
      tail >> type >> src;
      if (src.rfind("/dev/", 0) == 0) rootdev = src.substr(5);
    }
  }
  // An overlay or tmpfs root (a container) has no root disk to offer: said, not passed.
  if (rootdev.empty() || !fs::exists("/sys/class/block/" + rootdev))
    GUESTKIT_SKIP("/ is not on a block device here (overlay or tmpfs root): no root disk to offer");
  lab.set_disk_config("  match: [\"*\"]\n");
  auto r = lab.disk({"--dry-run", "add", rootdev});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("would mount") == std::string::npos);
  CHECK(r.err.find("on the root disk, ignoring") != std::string::npos);
}

// Debian 13's libmount (util-linux 2.41) attaches a mount with move_mount(2), which,
// unlike mount(2), does not follow a final symlink: guestkit's target
// /proc/self/fd/N (the directory it checked, held open) failed there with ENOENT and
// no data disk mounted in the e2e trixie guest. The host's older libmount still uses
// mount(2), so the syscall libmount now makes is made here directly on the target
// guestkit gives it (/proc/self/fd/N/. since).
TEST_CASE("disk: the mount target guestkit gives libmount takes a move_mount(2)", "[disk]") {
  DiskLab lab;  // a private mount namespace
  const fs::path dir = lab.srv() / "move-mount";
  fs::create_directories(dir);
  const int dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dir_fd >= 0);
  const int fs_fd = ::fsopen("tmpfs", FSOPEN_CLOEXEC);
  if (fs_fd < 0 && errno == ENOSYS) {
    ::close(dir_fd);
    guestkit::test::skip("the kernel has no fsopen(2)");
  }
  REQUIRE(fs_fd >= 0);
  REQUIRE(::fsconfig(fs_fd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0);
  const int mnt_fd = ::fsmount(fs_fd, FSMOUNT_CLOEXEC, 0);
  REQUIRE(mnt_fd >= 0);
  const std::string target = guestkit::plugins::disk::mount_target(dir_fd);
  // As libmount's hook_mount.c attaches it: from the detached mount, no T_SYMLINKS.
  const int rc = ::move_mount(mnt_fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH);
  const int err = errno;
  INFO("move_mount onto " << target << ": " << (rc == 0 ? "ok" : std::strerror(err)));
  CHECK(rc == 0);
  struct stat in = {};
  struct stat parent = {};
  REQUIRE(::stat(dir.c_str(), &in) == 0);
  REQUIRE(::stat(dir.parent_path().c_str(), &parent) == 0);
  CHECK(in.st_dev != parent.st_dev);  // the tmpfs is on the directory itself
  ::close(mnt_fd);  // it holds the mount busy
  ::close(fs_fd);
  ::close(dir_fd);
  if (rc == 0) CHECK(::umount2(dir.c_str(), 0) == 0);
}
