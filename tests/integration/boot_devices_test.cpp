// Boot stage plugins that act on block devices, on real loop devices (root, real
// kernel): 01-setup-swap and 03-grow-root through the real guestkit-boot, on a temp
// root whose config names the test's own devices (with --root, guestkit touches no
// device it was not given). Swap enabled here is switched off again by a guard, also
// when a check fails; the DiskLab detaches the loop devices.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "core/exec.hpp"
#include "tests/integration/disk_fixture.hpp"

namespace core = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::DiskLab;
using guestkit::test::in_swaps;
using guestkit::test::SwapOff;

namespace {

std::string blkid_value(const std::string& dev, const std::string& tag) {
  auto r = core::run({"blkid", "-p", "-o", "value", "-s", tag, dev});
  if (!r) return "";
  std::string v = r->out;
  while (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

TEST_CASE("swap: a blank disk is formatted and enabled, then left alone", "[boot-devices]") {
  DiskLab lab;
  fs::create_directories(lab.dir().path() / "root/etc");
  auto loop = lab.add_loop(32);
  const std::string dev = "/dev/" + loop;
  SwapOff guard{dev};
  const std::string yaml = "swap: {device: " + dev + "}\n";

  auto dry = lab.boot(yaml, {"--dry-run", "bootstrap"});
  INFO(dry.err);
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("would run mkswap -L swap " + dev + "\n") != std::string::npos);
  CHECK(dry.out.find("would run swapon " + dev + "\n") != std::string::npos);
  CHECK_FALSE(in_swaps(dev));
  CHECK(blkid_value(dev, "TYPE").empty());

  auto r = lab.boot(yaml, {"--only", "01-setup-swap", "bootstrap"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("01-setup-swap: changed") != std::string::npos);
  CHECK(in_swaps(dev));
  CHECK(blkid_value(dev, "TYPE") == "swap");
  CHECK(blkid_value(dev, "LABEL") == "swap");

  auto again = lab.boot(yaml, {"--only", "01-setup-swap", "bootstrap"});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("01-setup-swap: unchanged") != std::string::npos);
}

TEST_CASE("swap: an existing swap is only enabled, keeping its UUID", "[boot-devices]") {
  DiskLab lab;
  fs::create_directories(lab.dir().path() / "root/etc");
  auto loop = lab.add_loop(32);
  const std::string dev = "/dev/" + loop;
  SwapOff guard{dev};
  lab.must({"mkswap", "-L", "swap", dev});
  const std::string uuid = blkid_value(dev, "UUID");
  REQUIRE_FALSE(uuid.empty());
  auto r = lab.boot("swap: {device: " + dev + "}\n", {"bootstrap"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(in_swaps(dev));
  CHECK(blkid_value(dev, "UUID") == uuid);
}

TEST_CASE("swap: an ext4 disk and a disk with data are refused untouched", "[boot-devices]") {
  DiskLab lab;
  fs::create_directories(lab.dir().path() / "root/etc");
  auto ext = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "swap", "/dev/" + ext});
  auto data = lab.add_loop(32);
  {
    std::ofstream out(lab.image_of(data), std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(300 << 10);
    out << "customer data";
  }
  for (const auto& loop : {ext, data}) {
    const std::string dev = "/dev/" + loop;
    SwapOff guard{dev};
    const auto before = file_bytes(lab.image_of(loop));
    auto r = lab.boot("swap: {device: " + dev + "}\n", {"bootstrap"});
    INFO(r.err);
    CHECK(r.exit_code == 1);  // a non-critical plugin failed
    CHECK(r.err.find("refusing to format it") != std::string::npos);
    CHECK_FALSE(in_swaps(dev));
    CHECK(file_bytes(lab.image_of(loop)) == before);
  }
}

TEST_CASE("swap: switched off, nothing happens", "[boot-devices]") {
  DiskLab lab;
  fs::create_directories(lab.dir().path() / "root/etc");
  auto loop = lab.add_loop(32);
  const std::string dev = "/dev/" + loop;
  SwapOff guard{dev};
  auto r = lab.boot("swap: {enabled: false, device: " + dev + "}\n", {"bootstrap"});
  CHECK(r.exit_code == 0);
  CHECK_FALSE(in_swaps(dev));
  CHECK(blkid_value(dev, "TYPE").empty());
}

TEST_CASE("grow-root: the last GPT partition and its ext4 grow with the disk", "[boot-devices]") {
  DiskLab lab;
  if (!core::find_program("sgdisk"))
    GUESTKIT_SKIP("sgdisk is not installed (scripts/setup installs gdisk)");
  fs::create_directories(lab.dir().path() / "root/etc");
  auto loop = lab.add_loop(64, true);
  const std::string disk = "/dev/" + loop;
  // A cloned image: all-zero disk and partition GUIDs, partition 2 labelled root.
  const std::string zero = "00000000-0000-0000-0000-000000000000";
  lab.must({"sgdisk", "--disk-guid=" + zero, "--new=1:2048:+8M", "--typecode=1:8200",
            "--change-name=1:swap", "--new=2:0:0", "--change-name=2:root",
            "--partition-guid=1:" + zero, "--partition-guid=2:" + zero, disk});
  lab.must({"partx", "--update", disk});
  const std::string part = disk + "p2";
  REQUIRE(fs::exists(part));
  lab.must({"mkfs.ext4", "-q", "-L", "root", part});
  auto sectors = [&](const std::string& name) {
    std::ifstream in("/sys/class/block/" + name + "/size");
    std::uint64_t v = 0;
    in >> v;
    return v;
  };
  const auto part_before = sectors(loop + "p2");

  const std::string yaml = "boot: {root_device: " + part + "}\n";
  // Not enlarged yet: only the GUIDs change.
  auto first = lab.boot(yaml, {"--only", "03-grow-root", "bootstrap"});
  INFO(first.err);
  CHECK(first.exit_code == 0);
  CHECK(blkid_value(disk, "PTUUID") != zero);
  CHECK(sectors(loop + "p2") == part_before);
  auto settled = lab.boot(yaml, {"--only", "03-grow-root", "bootstrap"});
  CHECK(settled.err.find("03-grow-root: unchanged") != std::string::npos);

  // The platform enlarges the disk to 128 MiB.
  fs::resize_file(lab.image_of(loop), 128u << 20);
  lab.must({"losetup", "--set-capacity", disk});
  // Switched off: the enlarged disk stays as it is.
  auto off = lab.boot(yaml + "grow_root: false\n", {"--only", "03-grow-root", "bootstrap"});
  CHECK(off.exit_code == 0);
  CHECK(sectors(loop + "p2") == part_before);
  auto dry = lab.boot(yaml, {"--dry-run", "--only", "03-grow-root", "bootstrap"});
  CHECK(dry.out.find("would run growpart " + disk + " 2") != std::string::npos);
  CHECK(sectors(loop + "p2") == part_before);

  auto grown = lab.boot(yaml, {"--only", "03-grow-root", "bootstrap"});
  INFO(grown.err);
  CHECK(grown.exit_code == 0);
  CHECK(grown.err.find("03-grow-root: changed") != std::string::npos);
  CHECK(sectors(loop + "p2") > part_before + 100000);
  // The filesystem fills the partition (dumpe2fs: block count x block size).
  auto dump = core::run({"dumpe2fs", "-h", part});
  REQUIRE(dump);
  auto field = [&](const std::string& key) {
    auto pos = dump->out.find(key);
    REQUIRE(pos != std::string::npos);
    return std::stoull(dump->out.substr(pos + key.size()));
  };
  const auto fs_bytes = field("Block count:") * field("Block size:");
  CHECK(fs_bytes + (1u << 20) >= sectors(loop + "p2") * 512);
  CHECK(blkid_value(part, "PART_ENTRY_NAME") == "root");

  auto again = lab.boot(yaml, {"--only", "03-grow-root", "bootstrap"});
  CHECK(again.err.find("03-grow-root: unchanged") != std::string::npos);
}

TEST_CASE("root filesystem: fstab by UUID and ext4 check counters, on a mounted root",
          "[boot-devices]") {
  DiskLab lab;
  auto loop = lab.add_loop(32);
  const std::string dev = "/dev/" + loop;
  lab.must({"mkfs.ext4", "-q", "-L", "root", dev});
  const auto root = lab.dir().path() / "root";
  fs::create_directories(root);
  lab.must({"mount", "-n", dev, root.string()});  // in the lab's own mount namespace
  fs::remove_all(root / "lost+found");
  fs::create_directories(root / "etc");
  fs::copy_file(fs::path(GUESTKIT_SOURCE_DIR) / "tests/fixtures/etc-debian12/fstab.by-device",
                root / "etc/fstab");
  fs::copy_file(fs::path(GUESTKIT_SOURCE_DIR) / "tests/fixtures/etc-debian12/hosts",
                root / "etc/hosts");
  const std::string uuid = blkid_value(dev, "UUID");
  auto max_count = [&]() {
    auto d = core::run({"dumpe2fs", "-h", dev});
    REQUIRE(d);
    auto pos = d->out.find("Maximum mount count:");
    REQUIRE(pos != std::string::npos);
    return std::stoi(d->out.substr(pos + 20));
  };
  REQUIRE(max_count() == -1);  // mke2fs's default: no periodic checks

  const std::string only = "02-check-system-files,16-tune-ext-checks";
  const std::string pristine_fstab = file_bytes(root / "etc/fstab");
  auto off = lab.boot("system_files: false\next_checks: false\n", {"--only", only, "config"});
  CHECK(off.exit_code == 0);
  CHECK(file_bytes(root / "etc/fstab") == pristine_fstab);
  CHECK(max_count() == -1);
  CHECK_FALSE(fs::exists(root / "lost+found"));
  auto dry = lab.boot("", {"--dry-run", "--only", only, "config"});
  CHECK(dry.out.find("would name the root by UUID=" + uuid) != std::string::npos);
  CHECK(dry.out.find("would run tune2fs -c 30 -i 180d " + dev) != std::string::npos);
  CHECK(max_count() == -1);
  CHECK_FALSE(fs::exists(root / "lost+found"));

  auto r = lab.boot("ext_checks: {max_mount_count: 25, interval_days: 90}\n",
                    {"--only", only, "config"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const std::string fstab = file_bytes(root / "etc/fstab");
  CHECK(fstab.find("\nUUID=" + uuid + " /      ") != std::string::npos);
  CHECK(fstab.find("/dev/sda1") == std::string::npos);
  CHECK(file_bytes(root / "etc/fstab.guestkit-bak") ==
        file_bytes(fs::path(GUESTKIT_SOURCE_DIR) / "tests/fixtures/etc-debian12/fstab.by-device"));
  CHECK(max_count() == 25);
  CHECK(fs::is_directory(root / "lost+found"));
  CHECK((fs::status(root / "lost+found").permissions() & fs::perms::all) == fs::perms::owner_all);

  auto again = lab.boot("ext_checks: {max_mount_count: 25, interval_days: 90}\n",
                        {"--only", only, "config"});
  CHECK(again.err.find("02-check-system-files: unchanged") != std::string::npos);
  CHECK(again.err.find("16-tune-ext-checks: unchanged") != std::string::npos);
  lab.must({"umount", root.string()});
}

TEST_CASE("grow-root: without growpart, sgdisk grows the partition and keeps its identity",
          "[boot-devices]") {
  DiskLab lab;
  if (!core::find_program("sgdisk"))
    GUESTKIT_SKIP("sgdisk is not installed (scripts/setup installs gdisk)");
  // Hide growpart in the lab's own mount namespace (the host keeps it).
  auto growpart = core::find_program("growpart");
  if (growpart) lab.must({"mount", "-n", "--bind", "/dev/null", *growpart});
  struct Unhide {
    std::optional<std::string> path;
    ~Unhide() {
      if (path) (void)core::run({"umount", "-n", *path});
    }
  } unhide{growpart};
  REQUIRE_FALSE(core::find_program("growpart"));

  fs::create_directories(lab.dir().path() / "root/etc");
  auto loop = lab.add_loop(48, true);
  const std::string disk = "/dev/" + loop;
  lab.must({"sgdisk", "--new=1:2048:+8M", "--change-name=1:boot", "--new=2:0:0",
            "--change-name=2:root", "--typecode=2:4f68bce3-e8cd-4db1-96e7-fbcaf984b709", disk});
  lab.must({"partx", "--update", disk});
  const std::string part = disk + "p2";
  lab.must({"mkfs.ext4", "-q", part});
  const std::string guid = blkid_value(part, "PART_ENTRY_UUID");
  auto sectors = [&]() {
    std::ifstream in("/sys/class/block/" + loop + "p2/size");
    std::uint64_t v = 0;
    in >> v;
    return v;
  };
  const auto before = sectors();
  fs::resize_file(lab.image_of(loop), 96u << 20);
  lab.must({"losetup", "--set-capacity", disk});

  const std::string yaml = "boot: {root_device: " + part + "}\n";
  auto r = lab.boot(yaml, {"--only", "03-grow-root", "bootstrap"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(sectors() > before + 90000);
  CHECK(blkid_value(part, "PART_ENTRY_UUID") == guid);
  CHECK(blkid_value(part, "PART_ENTRY_NAME") == "root");
  CHECK(blkid_value(part, "PART_ENTRY_TYPE") == "4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
  auto check = core::run({"sgdisk", "--verify", disk});
  REQUIRE(check);
  CHECK(check->out.find("No problems found") != std::string::npos);
  auto again = lab.boot(yaml, {"--only", "03-grow-root", "bootstrap"});
  CHECK(again.err.find("03-grow-root: unchanged") != std::string::npos);
}
