// plugins/seed, the reading half, on real loop devices (the loop device is where the
// seed is, as a real cdrom or disk would be): NoCloud ISOs made by cloud-localds,
// genisoimage and xorriso, a vfat cidata made by mkfs.vfat + mcopy, a config-2 ISO, the
// in-swap tar written by GNU tar at 512 KiB of a blank disk in both layouts; hostile
// seeds; 01-setup-swap erasing the seed; guestkit-disk never mounting a seed. Nothing
// here mounts anything: this kernel has neither iso9660 nor vfat, and the readers do
// not need them.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/exec.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/seed/discover.hpp"
#include "tests/integration/disk_fixture.hpp"

namespace core = guestkit::core;
namespace seed = guestkit::plugins::seed;
namespace fs = std::filesystem;
using guestkit::test::DiskLab;
using guestkit::test::in_swaps;
using guestkit::test::SwapOff;

namespace {

void require_tool(const char* tool) {
  if (!core::find_program(tool))
    GUESTKIT_SKIP(std::string(tool) + " is not installed (scripts/setup installs it)");
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Writes bytes onto the device itself (not its backing file), as a platform would.
void write_device(const std::string& dev, std::uint64_t offset, const std::string& bytes) {
  const int fd = ::open(dev.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) ==
          static_cast<ssize_t>(bytes.size()));
  REQUIRE(::fsync(fd) == 0);
  ::close(fd);
}

std::string read_device_bytes(const std::string& dev, std::uint64_t offset, std::size_t n) {
  std::string out(n, '\0');
  const int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::pread(fd, out.data(), n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n));
  ::close(fd);
  return out;
}

const std::string kUserData = "#cloud-config\nhostname: seeded\nssh_pwauth: false\n";
const std::string kMetaData = "instance-id: iid-seed-1\nlocal-hostname: seeded\n";

// user-data and meta-data in a fresh directory of the lab.
fs::path nocloud_files(const DiskLab& lab, const std::string& sub) {
  lab.dir().write(sub + "/user-data", kUserData);
  lab.dir().write(sub + "/meta-data", kMetaData);
  return lab.dir().path() / sub;
}

// A loop device holding the image file `image` (copied onto the device).
std::string loop_with(DiskLab& lab, const fs::path& image) {
  const std::string bytes = slurp(image);
  REQUIRE_FALSE(bytes.empty());
  auto loop = lab.add_loop(std::max<std::size_t>(4, (bytes.size() >> 20) + 2));
  write_device("/dev/" + loop, 0, bytes);
  return loop;
}

void check_nocloud(const core::Result<seed::SeedFiles>& s, const std::string& dev) {
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
  CHECK(s->kind == seed::SourceKind::nocloud);
  CHECK(s->origin == dev);
  CHECK(s->files.size() == 2);
  CHECK(s->files.at("user-data") == kUserData);
  CHECK(s->files.at("meta-data") == kMetaData);
  std::string refused;
  for (const auto& r : s->refused) refused += r + "\n";
  CHECK(refused == "");
}

bool found_has(const std::vector<seed::Found>& found, const std::string& path,
               seed::SourceKind kind) {
  return std::any_of(found.begin(), found.end(),
                     [&](const seed::Found& f) { return f.path == path && f.kind == kind; });
}

// GNU tar of `members` (relative to `dir`), in the given format.
std::string gnu_tar(DiskLab& lab, const fs::path& dir, std::vector<std::string> members,
                    std::vector<std::string> extra = {}) {
  const fs::path out = lab.dir().path() / ("t" + std::to_string(::rand()) + ".tar");
  std::vector<std::string> argv{"tar", "--format=gnu", "-C", dir.string(), "-cf", out.string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), members.begin(), members.end());
  lab.must(argv);
  return slurp(out);
}

}  // namespace

TEST_CASE("seed: a NoCloud ISO made by cloud-localds, read from its loop device", "[seed]") {
  require_tool("cloud-localds");
  DiskLab lab;
  auto src = nocloud_files(lab, "nc");
  const fs::path iso = lab.dir().path() / "seed.iso";
  lab.must(
      {"cloud-localds", iso.string(), (src / "user-data").string(), (src / "meta-data").string()});
  auto loop = loop_with(lab, iso);
  const std::string dev = "/dev/" + loop;
  check_nocloud(seed::read_device(dev), dev);
  // Discovery on this live system finds it as a NoCloud iso9660, and read() agrees.
  auto found = seed::discover(core::Root::host());
  REQUIRE(found_has(found, dev, seed::SourceKind::nocloud));
  for (const auto& f : found)
    if (f.path == dev) {
      CHECK(f.medium == seed::Medium::iso9660);
      check_nocloud(seed::read(core::Root::host(), f), dev);
    }
}

TEST_CASE("seed: NoCloud ISOs made by genisoimage and by xorriso", "[seed]") {
  require_tool("genisoimage");
  require_tool("xorriso");
  DiskLab lab;
  auto src = nocloud_files(lab, "nc");
  const fs::path g = lab.dir().path() / "g.iso", x = lab.dir().path() / "x.iso";
  lab.must({"genisoimage", "-quiet", "-output", g.string(), "-volid", "CIDATA", "-joliet", "-rock",
            (src / "user-data").string(), (src / "meta-data").string()});
  lab.must({"xorriso", "-abort_on", "FAILURE", "-outdev", x.string(), "-volid", "cidata", "-joliet",
            "on", "-map", src.string(), "/"});
  for (const auto& iso : {g, x}) {
    auto loop = loop_with(lab, iso);
    check_nocloud(seed::read_device("/dev/" + loop), "/dev/" + loop);
  }
}

TEST_CASE("seed: a vfat cidata (mkfs.vfat, mcopy) is read by mtools, no kernel vfat", "[seed]") {
  require_tool("mcopy");
  DiskLab lab;
  auto src = nocloud_files(lab, "nc");
  auto loop = lab.add_loop(8);
  const std::string dev = "/dev/" + loop;
  lab.must({"mkfs.vfat", "-n", "CIDATA", dev});
  core::ExecOptions o;
  o.env["MTOOLS_SKIP_CHECK"] = "1";
  for (const char* f : {"user-data", "meta-data"}) {
    auto r = core::run({"mcopy", "-i", dev, (src / f).string(), std::string("::/") + f}, o);
    REQUIRE(r);
    INFO(r->err);
    REQUIRE(r->success());
  }
  check_nocloud(seed::read_device(dev), dev);
  auto found = seed::discover(core::Root::host());
  CHECK(found_has(found, dev, seed::SourceKind::nocloud));
}

TEST_CASE("seed: a config-2 ISO with the OpenStack layout", "[seed]") {
  require_tool("genisoimage");
  DiskLab lab;
  const std::string meta = R"({"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "cd"})";
  lab.dir().write("cd/openstack/latest/meta_data.json", meta);
  lab.dir().write("cd/openstack/latest/user_data", kUserData);
  lab.dir().write("cd/openstack/2012-08-10/meta_data.json", "{}");
  lab.dir().write("cd/ec2/latest/meta-data.json", "{}");
  const fs::path iso = lab.dir().path() / "cd.iso";
  lab.must({"genisoimage", "-quiet", "-output", iso.string(), "-volid", "config-2", "-joliet",
            "-rock", (lab.dir().path() / "cd").string()});
  auto loop = loop_with(lab, iso);
  auto s = seed::read_device("/dev/" + loop);
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
  CHECK(s->kind == seed::SourceKind::configdrive);
  CHECK(s->files.size() == 2);  // only openstack/latest/, only the whitelisted names
  CHECK(s->files.at("openstack/latest/meta_data.json") == meta);
  CHECK(s->files.at("openstack/latest/user_data") == kUserData);
  CHECK(
      found_has(seed::discover(core::Root::host()), "/dev/" + loop, seed::SourceKind::configdrive));
}

TEST_CASE("seed: the in-swap tar at 512 KiB of a blank disk, both layouts", "[seed]") {
  DiskLab lab;
  lab.dir().write("g/guestkit/order.json", R"({"op": "provision"})");
  lab.dir().write("g/guestkit/agent.key", std::string(64, 'a') + "\n", 0600);
  lab.dir().write("g/guestkit/postboot/10-hello", "#!/bin/sh\necho hello\n", 0755);
  lab.dir().write("g/guestkit/modules/6.1.0-13-amd64.tar.xz", "not really xz");
  lab.dir().write("o/gandi/config", R"({"vm_hostname": "old"})");
  lab.dir().write("o/gandi/init", "#!/bin/sh\n", 0755);
  const auto gtar = gnu_tar(lab, lab.dir().path() / "g", {"guestkit"});
  // The old layout as a POSIX (pax) archive, with "./" names.
  const auto otar = gnu_tar(lab, lab.dir().path() / "o", {"./gandi"}, {"--format=posix"});
  struct Case {
    std::string tar;
    seed::SourceKind kind;
    std::size_t files;
  };
  for (const auto& c : {Case{gtar, seed::SourceKind::swap_guestkit, 4},
                        Case{otar, seed::SourceKind::swap_gandi, 2}}) {
    auto loop = lab.add_loop(16);
    const std::string dev = "/dev/" + loop;
    write_device(dev, seed::kSwapSeedOffset, c.tar);
    auto s = seed::read_device(dev);
    INFO((s ? "" : s.error().message()));
    REQUIRE(s);
    CHECK(s->kind == c.kind);
    CHECK(s->files.size() == c.files);
    CHECK(s->refused.empty());
    if (c.kind == seed::SourceKind::swap_guestkit) {
      CHECK(s->files.at("guestkit/agent.key") == std::string(64, 'a') + "\n");
      CHECK(s->files.at("guestkit/postboot/10-hello") == "#!/bin/sh\necho hello\n");
    } else {
      CHECK(s->files.at("gandi/config") == R"({"vm_hostname": "old"})");
    }
    // Discovery with this disk as swap.device: the swap seed comes first.
    auto found = seed::discover(core::Root::host(), dev);
    REQUIRE_FALSE(found.empty());
    CHECK(found.front().path == dev);
    CHECK(found.front().kind == c.kind);
    CHECK(found.front().medium == seed::Medium::swap_tar);
  }
  // A blank disk holds no seed; nor does a disk with random bytes at 512 KiB.
  auto blank = lab.add_loop(4);
  const int fd = ::open(("/dev/" + blank).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto none = seed::read_swap_seed(fd, "blank");
  ::close(fd);
  REQUIRE(none);
  CHECK_FALSE(*none);
  CHECK_FALSE(seed::read_device("/dev/" + blank));
}

TEST_CASE("seed: hostile members of a swap tar are refused and never read", "[seed]") {
  DiskLab lab;
  const fs::path d = lab.dir().path() / "h";
  lab.dir().write("h/guestkit/order.json", R"({"op": "provision"})");
  lab.dir().write("evil", "outside");                           // stored as ../evil
  lab.dir().write("abs/secret", "absolute");                    // stored as /.../abs/secret
  fs::create_symlink("/etc/shadow", d / "guestkit/agent.key");  // a link where the key goes
  fs::create_directories(d / "guestkit/postboot");
  fs::create_hard_link(d / "guestkit/order.json", d / "guestkit/postboot/10-hard");
  REQUIRE(::mknod((d / "guestkit/postboot/20-dev").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
  REQUIRE(::mkfifo((d / "guestkit/postboot/30-fifo").c_str(), 0600) == 0);
  lab.dir().write("h/guestkit/postboot/40-big", std::string(seed::kMaxFileBytes + 1, '#'));
  // A sparse 1 GiB member where a modules tarball goes.
  fs::create_directories(d / "guestkit/modules");
  { std::ofstream(d / "guestkit/modules/6.1.0-13-amd64.tar.xz").close(); }
  fs::resize_file(d / "guestkit/modules/6.1.0-13-amd64.tar.xz", 1ull << 30);
  lab.dir().write("h/guestkit/postboot/50-\xff\xfe", "not utf-8");
  const std::string abs = (lab.dir().path() / "abs/secret").string();
  const auto tar = gnu_tar(lab, d, {"guestkit/order.json", "../evil", abs, "guestkit"},
                           {"--sparse", "--absolute-names"});
  auto loop = lab.add_loop(16);
  const std::string dev = "/dev/" + loop;
  write_device(dev, seed::kSwapSeedOffset, tar);
  auto s = seed::read_device(dev);
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
  CHECK(s->kind == seed::SourceKind::swap_guestkit);
  // Only the one honest member was read (its hard link is refused, not a second copy).
  REQUIRE(s->files.size() == 1);
  CHECK(s->files.count("guestkit/order.json") == 1);
  std::string all;
  for (const auto& r : s->refused) all += r + "\n";
  INFO(all);
  auto refused = [&](const std::string& what) { return all.find(what) != std::string::npos; };
  CHECK(refused("../evil: a name with '..', refused"));
  CHECK(refused(abs + ": an absolute name, refused"));
  CHECK(refused("guestkit/agent.key: a symbolic link, refused"));
  CHECK(refused("guestkit/postboot/10-hard: a hard link, refused"));
  CHECK(refused("guestkit/postboot/20-dev: a character device, refused"));
  CHECK(refused("guestkit/postboot/30-fifo: a fifo, refused"));
  CHECK(refused("guestkit/postboot/40-big: 1048577 bytes, over the cap of 1048576, refused"));
  CHECK(refused("guestkit/modules/6.1.0-13-amd64.tar.xz: a sparse member, refused"));
  CHECK(refused("guestkit/postboot/50-\\xff\\xfe: a name that is not UTF-8, refused"));
}

TEST_CASE("seed: hostile members of an ISO are refused", "[seed]") {
  require_tool("genisoimage");
  DiskLab lab;
  auto src = nocloud_files(lab, "nc");
  fs::create_symlink("/etc/shadow", src / "vendor-data");
  lab.dir().write("nc/network-config", std::string(seed::kMaxFileBytes + 1, 'n'));
  const fs::path iso = lab.dir().path() / "h.iso";
  lab.must({"genisoimage", "-quiet", "-output", iso.string(), "-volid", "cidata", "-rock",
            src.string()});
  auto loop = loop_with(lab, iso);
  auto s = seed::read_device("/dev/" + loop);
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
  CHECK(s->files.size() == 2);
  std::string all;
  for (const auto& r : s->refused) all += r + "\n";
  INFO(all);
  CHECK(all.find("vendor-data: a symbolic link, refused") != std::string::npos);
  CHECK(all.find("network-config: 1048577 bytes, over the cap") != std::string::npos);
}

TEST_CASE("seed: two seeds at once, the in-swap one wins and both are found", "[seed]") {
  require_tool("cloud-localds");
  DiskLab lab;
  auto src = nocloud_files(lab, "nc");
  const fs::path iso = lab.dir().path() / "seed.iso";
  lab.must(
      {"cloud-localds", iso.string(), (src / "user-data").string(), (src / "meta-data").string()});
  auto cidata = loop_with(lab, iso);
  lab.dir().write("g/guestkit/order.json", "{}");
  auto swap = lab.add_loop(8);
  write_device("/dev/" + swap, seed::kSwapSeedOffset,
               gnu_tar(lab, lab.dir().path() / "g", {"guestkit"}));
  auto found = seed::discover(core::Root::host(), "/dev/" + swap);
  REQUIRE(found.size() >= 2);
  CHECK(found.front().path == "/dev/" + swap);
  CHECK(found_has(found, "/dev/" + cidata, seed::SourceKind::nocloud));
}

TEST_CASE("seed: a swap disk with a filesystem and a tar: seed ignored, swap refuses", "[seed]") {
  DiskLab lab;
  auto loop = lab.add_loop(32);
  const std::string dev = "/dev/" + loop;
  SwapOff guard{dev};
  lab.must({"mkfs.ext4", "-q", dev});
  lab.dir().write("g/guestkit/order.json", "{}");
  write_device(dev, seed::kSwapSeedOffset, gnu_tar(lab, lab.dir().path() / "g", {"guestkit"}));
  auto r = seed::read_device(dev);
  REQUIRE_FALSE(r);
  CHECK(r.error().message().find("holds ext4: not a seed") != std::string::npos);
  std::vector<std::string> ignored;
  auto found = seed::discover(core::Root::host(), dev, &ignored);
  CHECK_FALSE(found_has(found, dev, seed::SourceKind::swap_guestkit));
  REQUIRE(ignored.size() >= 1);
  CHECK(ignored.front() ==
        "swap device " + dev + " holds ext4: its in-swap seed, if any, is ignored");
  const auto before = slurp(lab.image_of(loop));
  auto b = lab.boot("swap: {device: " + dev + "}\n", {"--only", "01-setup-swap", "bootstrap"});
  INFO(b.err);
  CHECK(b.exit_code == 1);
  CHECK(b.err.find("holds ext4, not swap: refusing to format it") != std::string::npos);
  CHECK_FALSE(in_swaps(dev));
  CHECK(slurp(lab.image_of(loop)) == before);
}

TEST_CASE("swap: a blank disk with a seed tar is formatted and the seed erased", "[seed]") {
  DiskLab lab;
  auto loop = lab.add_loop(16);
  const std::string dev = "/dev/" + loop;
  SwapOff guard{dev};
  lab.dir().write("g/guestkit/order.json", R"({"op": "provision", "secret": "s3cr3t"})");
  lab.dir().write("g/guestkit/agent.key", std::string(64, 'f'));
  const auto tar = gnu_tar(lab, lab.dir().path() / "g", {"guestkit"});
  write_device(dev, seed::kSwapSeedOffset, tar);
  const std::string yaml = "swap: {device: " + dev + "}\n";
  auto dry = lab.boot(yaml, {"--dry-run", "--only", "01-setup-swap", "bootstrap"});
  CHECK(dry.out.find("would erase the seed tar on " + dev) != std::string::npos);
  CHECK(read_device_bytes(dev, seed::kSwapSeedOffset, tar.size()) == tar);
  auto r = lab.boot(yaml, {"--only", "01-setup-swap", "bootstrap"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(in_swaps(dev));
  // The seed is gone: zeros where it was, no tar, no secret anywhere on the disk.
  CHECK(read_device_bytes(dev, seed::kSwapSeedOffset, tar.size()) == std::string(tar.size(), '\0'));
  const int fd = ::open(dev.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto left = seed::read_swap_seed(fd, dev);
  ::close(fd);
  REQUIRE(left);
  CHECK_FALSE(*left);
  CHECK(slurp(lab.image_of(loop)).find("s3cr3t") == std::string::npos);
}

TEST_CASE("swap: the old platform's gandiswap partition is found and its seed erased", "[seed]") {
  DiskLab lab;
  auto loop = lab.add_loop(16, true);
  const std::string disk = "/dev/" + loop;
  // A GPT swap partition starting at 32 KiB, as the old platform laid out xvdz: the
  // seed at 512 KiB of the whole disk lies inside it.
  lab.must({"sgdisk", "--set-alignment=1", "--new=1:64:0", "--change-name=1:gandiswap", disk});
  lab.must({"partx", "-u", disk});
  const std::string part = disk + "p1";
  REQUIRE(fs::exists(part));
  SwapOff guard{part};
  lab.must({"mkswap", "-L", "swap", part});
  lab.dir().write("o/gandi/config", R"({"password": "old-secret"})");
  const auto tar = gnu_tar(lab, lab.dir().path() / "o", {"gandi"});
  write_device(disk, seed::kSwapSeedOffset, tar);
  // The seed is read from the whole disk of the partition.
  auto found = seed::discover(core::Root::host(), part);
  REQUIRE_FALSE(found.empty());
  CHECK(found.front().path == disk);
  CHECK(found.front().kind == seed::SourceKind::swap_gandi);
  auto r = lab.boot("swap: {device: " + part + "}\n", {"--only", "01-setup-swap", "bootstrap"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(in_swaps(part));
  CHECK(read_device_bytes(disk, seed::kSwapSeedOffset, tar.size()) ==
        std::string(tar.size(), '\0'));
}

TEST_CASE("swap: a seed in the gap before a GPT swap partition at 1 MiB is erased", "[seed]") {
  // The e2e guest's swap disk (tests/e2e/vm.py) and what sfdisk/parted make by default:
  // the partition starts at 1 MiB, so the seed at 512 KiB of the whole disk lies in the
  // unpartitioned gap, outside the partition mkswap formats. It was applied from there:
  // its secrets must not stay on the disk.
  DiskLab lab;
  auto loop = lab.add_loop(16, true);
  const std::string disk = "/dev/" + loop;
  lab.must({"sgdisk", "--new=1:2048:0", "--typecode=1:8200", "--change-name=1:swap", disk});
  lab.must({"partx", "-u", disk});
  const std::string part = disk + "p1";
  REQUIRE(fs::exists(part));
  SwapOff guard{part};
  lab.dir().write("g/guestkit/order.json", R"({"root": {"password": "gap-s3cret"}})");
  lab.dir().write("g/guestkit/agent.key", std::string(64, 'e'));
  const auto tar = gnu_tar(lab, lab.dir().path() / "g", {"guestkit"});
  REQUIRE(seed::kSwapSeedOffset + tar.size() <= (1u << 20));
  write_device(disk, seed::kSwapSeedOffset, tar);
  auto found = seed::discover(core::Root::host(), part);
  REQUIRE_FALSE(found.empty());
  CHECK(found.front().path == disk);
  auto r = lab.boot("swap: {device: " + part + "}\n", {"--only", "01-setup-swap", "bootstrap"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(in_swaps(part));
  CHECK(r.err.find("erased the seed tar on " + disk) != std::string::npos);
  CHECK(read_device_bytes(disk, seed::kSwapSeedOffset, tar.size()) ==
        std::string(tar.size(), '\0'));
  CHECK(slurp(lab.image_of(loop)).find("gap-s3cret") == std::string::npos);
  // The GPT is intact: the partition is still there with its name.
  auto probe = guestkit::plugins::disk::probe_block_device(core::Root::host(), part);
  REQUIRE(probe);
  CHECK(probe->part_name == "swap");
}

TEST_CASE("swap: a seed tar inside another partition of the swap disk is left alone", "[seed]") {
  DiskLab lab;
  auto loop = lab.add_loop(16, true);
  const std::string disk = "/dev/" + loop;
  // Partition 1 (not swap) covers 512 KiB; the swap partition comes after it.
  lab.must({"sgdisk", "--set-alignment=1", "--new=1:64:2047", "--change-name=1:other",
            "--new=2:2048:0", "--typecode=2:8200", "--change-name=2:swap", disk});
  lab.must({"partx", "-u", disk});
  const std::string part = disk + "p2";
  REQUIRE(fs::exists(part));
  SwapOff guard{part};
  lab.dir().write("g/guestkit/order.json", R"({"hostname": "kept"})");
  const auto tar = gnu_tar(lab, lab.dir().path() / "g", {"guestkit"});
  write_device(disk, seed::kSwapSeedOffset, tar);
  auto r = lab.boot("swap: {device: " + part + "}\n", {"--only", "01-setup-swap", "bootstrap"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(in_swaps(part));
  CHECK(r.err.find("overlaps a partition other than " + part + ": not erased") !=
        std::string::npos);
  CHECK(read_device_bytes(disk, seed::kSwapSeedOffset, tar.size()) == tar);
}

TEST_CASE("guestkit-disk never mounts a seed medium or the swap partition", "[seed]") {
  DiskLab lab;
  auto a = lab.add_loop(32), b = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "cidata", "/dev/" + a});
  lab.must({"mkfs.ext4", "-q", "-L", "config-2", "/dev/" + b});
  for (const auto& loop : {a, b}) {
    auto r = lab.disk({"add", loop});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find(loop + ": a ") != std::string::npos);
    CHECK(r.err.find("seed (label") != std::string::npos);
    CHECK(r.err.find("never mounted, ignoring") != std::string::npos);
  }
  CHECK(fs::is_empty(lab.srv()));
}

TEST_CASE("seed: a vfat config-2 with the OpenStack layout, read by mtools", "[seed]") {
  require_tool("mcopy");
  DiskLab lab;
  auto loop = lab.add_loop(8);
  const std::string dev = "/dev/" + loop;
  lab.must({"mkfs.vfat", "-n", "CONFIG-2", dev});
  const std::string meta = R"({"uuid": "u-2", "hostname": "fat"})";
  lab.dir().write("m.json", meta);
  core::ExecOptions o;
  o.env["MTOOLS_SKIP_CHECK"] = "1";
  for (std::vector<std::string> argv :
       {std::vector<std::string>{"mmd", "-i", dev, "::/openstack", "::/openstack/latest"},
        std::vector<std::string>{"mcopy", "-i", dev, (lab.dir().path() / "m.json").string(),
                                 "::/openstack/latest/meta_data.json"}}) {
    auto r = core::run(argv, o);
    REQUIRE(r);
    INFO(r->err);
    REQUIRE(r->success());
  }
  auto s = seed::read_device(dev);
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
  CHECK(s->kind == seed::SourceKind::configdrive);
  CHECK(s->files.size() == 1);
  CHECK(s->files.at("openstack/latest/meta_data.json") == meta);
}

TEST_CASE("seed: a vfat member over the cap is refused, the others read", "[seed]") {
  require_tool("mcopy");
  DiskLab lab;
  auto src = nocloud_files(lab, "nc");
  lab.dir().write("nc/vendor-data", std::string(seed::kMaxFileBytes + 1, 'v'));
  auto loop = lab.add_loop(8);
  const std::string dev = "/dev/" + loop;
  lab.must({"mkfs.vfat", "-n", "cidata", dev});
  core::ExecOptions o;
  o.env["MTOOLS_SKIP_CHECK"] = "1";
  for (const char* f : {"user-data", "meta-data", "vendor-data"}) {
    auto r = core::run({"mcopy", "-i", dev, (src / f).string(), std::string("::/") + f}, o);
    REQUIRE(r);
    REQUIRE(r->success());
  }
  auto s = seed::read_device(dev);
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
  CHECK(s->files.size() == 2);
  CHECK(s->files.count("vendor-data") == 0);
  REQUIRE(s->refused.size() == 1);
  CHECK(s->refused[0] == "vendor-data: over the cap of 1048576, refused");
}
