// plugins/seed, the reading half: SMBIOS type 11 parsing, ds= parsing, the layouts'
// name checks and whitelist, and seed directories on temp roots (no devices: those are
// tests/integration/seed_test.cpp).

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "plugins/seed/discover.hpp"
#include "plugins/seed/layout.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace seed = guestkit::plugins::seed;
namespace fs = std::filesystem;
using guestkit::test::TempDir;
using guestkit::test::ustar_header;

namespace {

// One SMBIOS type 11 structure as the kernel exposes it in entries/11-N/raw.
std::string type11(const std::vector<std::string>& strings, int announced = -1) {
  std::string raw;
  raw.push_back(11);
  raw.push_back(5);  // formatted area: header (4) + count (1)
  raw.push_back(0x2a);
  raw.push_back(0);
  raw.push_back(
      static_cast<char>(announced < 0 ? strings.size() : static_cast<std::size_t>(announced)));
  for (const auto& s : strings) raw += s + std::string(1, '\0');
  raw.push_back('\0');
  if (strings.empty()) raw.push_back('\0');
  return raw;
}

const std::string kKey(64, 'a');

}  // namespace

TEST_CASE("seed: SMBIOS type 11 strings are parsed from the raw structure", "[seed]") {
  auto s = seed::smbios_oem_strings(type11({"first", "io.guestkit.agent-key=" + kKey, ""}, 2));
  // An empty string ends the set: "first" and the key, as announced.
  REQUIRE(s);
  CHECK(*s == std::vector<std::string>{"first", "io.guestkit.agent-key=" + kKey});
  auto none = seed::smbios_oem_strings(type11({}));
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("seed: malformed SMBIOS structures are errors", "[seed]") {
  CHECK_FALSE(seed::smbios_oem_strings(std::string("\x0b\x05", 2)));  // too short
  std::string wrong = type11({"x"});
  wrong[0] = 1;  // a type 1 (system) structure
  CHECK_FALSE(seed::smbios_oem_strings(wrong));
  std::string unterminated = type11({"abc"});
  unterminated.resize(unterminated.size() - 2);  // "abc" with no NUL at all
  unterminated.pop_back();
  CHECK_FALSE(seed::smbios_oem_strings(unterminated));
  CHECK_FALSE(seed::smbios_oem_strings(type11({"a", "b"}, 3)));  // count lies
  std::string long_header = type11({"a"});
  long_header[1] = 100;  // formatted area longer than the structure
  CHECK_FALSE(seed::smbios_oem_strings(long_header));
}

TEST_CASE("seed: the agent key from OEM strings, validated, never quoted", "[seed]") {
  auto k = seed::agent_key_of({"vendor=x", "io.guestkit.agent-key=" + std::string(64, 'A')});
  REQUIRE(k);
  CHECK(*k == std::string(64, 'a'));  // normalised to lower case
  auto none = seed::agent_key_of({"io.guestkit.other=1"});
  REQUIRE(none);
  CHECK_FALSE(*none);
  const std::string bad = "io.guestkit.agent-key=" + std::string(62, 'b') + "zz";
  auto b = seed::agent_key_of({bad});
  REQUIRE_FALSE(b);
  CHECK(b.error().message().find("bbbb") == std::string::npos);     // a secret is never quoted
  CHECK_FALSE(seed::agent_key_of({"io.guestkit.agent-key=abcd"}));  // too short
  CHECK_FALSE(seed::agent_key_of(
      {"io.guestkit.agent-key=" + kKey, "io.guestkit.agent-key=" + std::string(64, 'c')}));
}

TEST_CASE("seed: read_smbios reads entries/11-*/raw through the root", "[seed]") {
  TempDir t;
  t.write("sys/firmware/dmi/entries/1-0/raw", "\x01\x05\x00\x00\x00\x00\x00", 0400);
  t.write("sys/firmware/dmi/entries/11-0/raw", type11({"io.guestkit.agent-key=" + kKey}), 0400);
  auto s = seed::read_smbios(t.root());
  REQUIRE(s);
  REQUIRE(s->agent_key_hex);
  CHECK(*s->agent_key_hex == kKey);
  TempDir empty;
  auto e = seed::read_smbios(empty.root());  // no DMI entries at all
  REQUIRE(e);
  CHECK_FALSE(e->agent_key_hex);
}

TEST_CASE("seed: ds=nocloud with s=file:///PATH/ from a command line or a serial", "[seed]") {
  CHECK(seed::ds_seed_dir("BOOT_IMAGE=/vmlinuz ro ds=nocloud;s=file:///var/seed/ quiet") ==
        "/var/seed");
  CHECK(seed::ds_seed_dir("\"ds=nocloud;s=file:///srv/a b/\"") == "/srv/a b");  // quoted word
  CHECK(seed::ds_seed_dir("ds=NoCloud;i=iid-1;seedfrom=file:///x//y/") == "/x/y");
  CHECK(seed::ds_seed_dir("ds=nocloud-net;s=file:///seed") == "/seed");
  CHECK_FALSE(seed::ds_seed_dir("ds=nocloud;s=http://192.0.2.1/seed/"));  // needs a network
  CHECK_FALSE(seed::ds_seed_dir("ds=ec2;s=file:///seed/"));
  CHECK_FALSE(seed::ds_seed_dir("ds=nocloud;s=file:///var/../etc/"));
  CHECK_FALSE(seed::ds_seed_dir("ds=nocloud;s=file:///var/.."));
  CHECK_FALSE(seed::ds_seed_dir("ds=nocloud;s=file://relative/"));
  CHECK_FALSE(seed::ds_seed_dir("ds=nocloud;s=file:///a%2f..%2f/"));
  CHECK_FALSE(seed::ds_seed_dir("ro quiet"));
  CHECK_FALSE(seed::ds_seed_dir(""));
}

TEST_CASE("seed: member names: unsafe ones and the whitelist", "[seed]") {
  namespace d = guestkit::plugins::seed::detail;
  CHECK(d::unsafe_name("meta-data").empty());
  CHECK(d::unsafe_name("guestkit/postboot/10-x").empty());
  CHECK(d::unsafe_name("données").empty());
  CHECK_FALSE(d::unsafe_name("../x").empty());
  CHECK_FALSE(d::unsafe_name("guestkit/../../etc/shadow").empty());
  CHECK_FALSE(d::unsafe_name("/etc/shadow").empty());
  CHECK_FALSE(d::unsafe_name("guestkit/\xff\xfe").empty());
  CHECK_FALSE(d::unsafe_name("a\xc0\xaf").empty());      // overlong '/'
  CHECK_FALSE(d::unsafe_name("a\xed\xa0\x80").empty());  // a surrogate
  CHECK_FALSE(d::unsafe_name("a\nb").empty());
  CHECK_FALSE(d::unsafe_name("a//b").empty());
  CHECK(d::clean_name("./guestkit/order.json") == "guestkit/order.json");
  CHECK(d::clean_name("guestkit/") == "guestkit");

  using K = seed::SourceKind;
  CHECK(d::member_cap(K::nocloud, "user-data") == seed::kMaxFileBytes);
  CHECK_FALSE(d::member_cap(K::nocloud, "openstack/latest/user_data"));
  CHECK(d::member_cap(K::configdrive, "openstack/latest/meta_data.json"));
  CHECK_FALSE(d::member_cap(K::configdrive, "openstack/2012-08-10/meta_data.json"));
  CHECK(d::member_cap(K::swap_guestkit, "guestkit/agent.key") == seed::kMaxKeyBytes);
  CHECK(d::member_cap(K::swap_guestkit, "guestkit/postboot/10-hello"));
  CHECK_FALSE(d::member_cap(K::swap_guestkit, "guestkit/postboot/hello"));
  CHECK_FALSE(d::member_cap(K::swap_guestkit, "guestkit/postboot/10-a.sh"));
  CHECK(d::member_cap(K::swap_guestkit, "guestkit/modules/6.1.0-13-amd64.tar.xz") ==
        seed::kMaxModulesBytes);
  CHECK_FALSE(d::member_cap(K::swap_guestkit, "guestkit/modules/6.1.0.zip"));
  CHECK_FALSE(d::member_cap(K::swap_guestkit, "gandi/config"));
  CHECK(d::member_cap(K::swap_gandi, "gandi/init"));
  CHECK(d::member_cap(K::swap_gandi, "gandi/modules/5.10.0-23-amd64.tar.gz"));
}

TEST_CASE("seed: a NoCloud seed directory: whitelisted regular files only", "[seed]") {
  TempDir t;
  t.write("seed/meta-data", "instance-id: iid-1\n");
  t.write("seed/user-data", "#cloud-config\nhostname: a\n");
  t.write("seed/other", "not read");
  t.write("secret", "root's secret");
  fs::create_symlink("/secret", t.path() / "seed/vendor-data");
  REQUIRE(::mkfifo((t.path() / "seed/network-config").c_str(), 0600) == 0);
  auto s = seed::read_dir(t.root(), "/seed");
  REQUIRE(s);
  CHECK(s->kind == seed::SourceKind::nocloud);
  CHECK(s->files.size() == 2);
  CHECK(s->files.at("meta-data") == "instance-id: iid-1\n");
  CHECK(s->files.at("user-data") == "#cloud-config\nhostname: a\n");
  REQUIRE(s->refused.size() == 2);
  CHECK(s->refused[0] == "vendor-data: a symbolic link, refused");
  CHECK(s->refused[1] == "network-config: a device, fifo or socket, refused");
}

TEST_CASE("seed: oversized and hard-linked members of a seed directory are refused", "[seed]") {
  TempDir t;
  t.write("seed/meta-data", std::string(seed::kMaxFileBytes + 1, 'x'));
  t.write("seed/user-data", "#cloud-config\n");
  fs::create_hard_link(t.path() / "seed/user-data", t.path() / "seed/vendor-data");
  auto s = seed::read_dir(t.root(), "/seed");
  REQUIRE(s);
  CHECK(s->files.empty());
  REQUIRE(s->refused.size() == 3);
  CHECK(s->refused[0].find("meta-data: 1048577 bytes, over the cap of 1048576") == 0);
  CHECK(s->refused[1] == "user-data: a hard link, refused");
}

TEST_CASE("seed: a directory's layout is told by its files", "[seed]") {
  TempDir t;
  t.write("cd/openstack/latest/meta_data.json", "{\"uuid\": \"u-1\"}");
  t.write("cd/openstack/latest/user_data", "#!/bin/sh\n");
  t.write("cd/openstack/2012-08-10/meta_data.json", "{}");
  auto c = seed::read_dir(t.root(), "/cd");
  REQUIRE(c);
  CHECK(c->kind == seed::SourceKind::configdrive);
  CHECK(c->files.size() == 2);
  CHECK(c->files.count("openstack/latest/meta_data.json") == 1);
  t.write("sw/guestkit/order.json", "{}");
  t.write("sw/guestkit/postboot/10-hello", "#!/bin/sh\n");
  t.write("sw/guestkit/postboot/README", "ignored");
  t.write("sw/guestkit/modules/6.1.0-13-amd64.tar.xz", "xz");
  auto g = seed::read_dir(t.root(), "/sw");
  REQUIRE(g);
  CHECK(g->kind == seed::SourceKind::swap_guestkit);
  CHECK(g->files.size() == 3);
  CHECK(g->files.count("guestkit/postboot/10-hello") == 1);
  CHECK(g->files.count("guestkit/modules/6.1.0-13-amd64.tar.xz") == 1);
  CHECK_FALSE(seed::read_dir(t.root(), "/missing"));
}

TEST_CASE("seed: discovery is for the live system only", "[seed]") {
  TempDir t;
  t.write("var/lib/cloud/seed/nocloud/meta-data", "instance-id: x\n");
  t.write("proc/cmdline", "ds=nocloud;s=file:///var/lib/cloud/seed/nocloud/\n");
  CHECK(seed::discover(t.root()).empty());
}

TEST_CASE("seed: guestkit-disk's refusal of seed media", "[seed]") {
  CHECK_FALSE(seed::seed_device_reason("cidata", "").empty());
  CHECK_FALSE(seed::seed_device_reason("CIDATA", "").empty());
  CHECK_FALSE(seed::seed_device_reason("config-2", "").empty());
  CHECK_FALSE(seed::seed_device_reason("CONFIG-2", "").empty());
  CHECK_FALSE(seed::seed_device_reason("", "gandiswap").empty());
  CHECK(seed::seed_device_reason("data", "").empty());
  CHECK(seed::seed_device_reason("Cidata", "root").empty());
}

namespace {

// A whole disk under a fake root: sysfs attributes and a blank (or swap) image at /dev.
void fake_disk(const TempDir& t, const std::string& name, const std::string& devno,
               bool swap = false) {
  t.write("sys/class/block/" + name + "/dev", devno + "\n");
  t.write("sys/class/block/" + name + "/size", "8192\n");
  t.write("sys/class/block/" + name + "/ro", "0\n");
  t.write("sys/class/block/" + name + "/uevent", "DEVNAME=" + name + "\n");
  std::string image(1 << 16, '\0');
  if (swap) image.replace(4096 - 10, 10, "SWAPSPACE2");
  t.write("dev/" + name, image);
  fs::create_directories(t.path() / "sys/dev/block");
  fs::create_symlink("/sys/class/block/" + name, t.path() / "sys/dev/block" / devno);
}

}  // namespace

TEST_CASE("seed: the old platform's swap disks by name: xvdz, then sdb unless it is root's",
          "[seed]") {
  {
    TempDir t;
    fake_disk(t, "sdb", "8:16");
    fake_disk(t, "xvdz", "202:6400", true);
    auto d = seed::find_swap_device(t.root());
    REQUIRE(d);
    CHECK(*d == "/dev/xvdz");
  }
  {
    TempDir t;
    fake_disk(t, "sda", "8:0");
    fake_disk(t, "sdb", "8:16");
    t.write("proc/self/mountinfo", "22 1 8:0 / / rw,relatime shared:1 - ext4 /dev/sda rw\n");
    auto d = seed::find_swap_device(t.root());
    REQUIRE(d);
    CHECK(*d == "/dev/sdb");
    // The same disk holding "/" is never swap.
    t.write("proc/self/mountinfo", "22 1 8:16 / / rw,relatime shared:1 - ext4 /dev/sdb rw\n");
    auto none = seed::find_swap_device(t.root());
    REQUIRE(none);
    CHECK_FALSE(*none);
  }
  {
    TempDir t;  // other names are not swap just for being blank
    fake_disk(t, "vdb", "254:16");
    auto d = seed::find_swap_device(t.root());
    REQUIRE(d);
    CHECK_FALSE(*d);
  }
}

namespace {

// An image file: `at` bytes of zeros, then `bytes`, then zeros up to `size`.
std::string image(const TempDir& t, const std::string& name, std::size_t at,
                  const std::string& bytes, std::size_t size) {
  std::string img(size, '\0');
  img.replace(at, bytes.size(), bytes);
  return t.write(name, img).string();
}

}  // namespace

TEST_CASE("seed: a swap tar read from an image file, and broken ones", "[seed]") {
  TempDir t;
  const std::string order = R"({"op": "provision"})";
  std::string tar = ustar_header("guestkit/order.json", order.size()) + order;
  tar.resize((tar.size() + 511) / 512 * 512, '\0');
  tar += std::string(1024, '\0');  // end of archive
  auto ok = seed::read_device(image(t, "ok.img", seed::kSwapSeedOffset, tar, 1u << 20));
  INFO((ok ? "" : ok.error().message()));
  REQUIRE(ok);
  CHECK(ok->kind == seed::SourceKind::swap_guestkit);
  CHECK(ok->files.at("guestkit/order.json") == order);

  // The header says 100 KiB, the image ends first: an error, not a short read taken as whole.
  auto cut = seed::read_device(image(t, "cut.img", seed::kSwapSeedOffset,
                                     ustar_header("guestkit/order.json", 100 << 10) + "{",
                                     seed::kSwapSeedOffset + 4096));
  CHECK_FALSE(cut);
  // A bad checksum is not a tar; nor are random bytes; nor is a disk too small.
  std::string bad = tar;
  bad[148] = '7';
  CHECK_FALSE(seed::read_device(image(t, "bad.img", seed::kSwapSeedOffset, bad, 1u << 20)));
  std::string noise(8192, '\0');
  for (std::size_t i = 0; i < noise.size(); ++i)
    noise[i] = static_cast<char>((i * 2654435761u) >> 13);
  CHECK_FALSE(seed::read_device(image(t, "noise.img", seed::kSwapSeedOffset, noise, 1u << 20)));
  CHECK_FALSE(seed::read_device(image(t, "small.img", 0, "", seed::kSwapSeedOffset)));
  // Only a tar in a seed layout is a seed.
  std::string other = ustar_header("etc/passwd", 0) + std::string(1024, '\0');
  CHECK_FALSE(seed::read_device(image(t, "other.img", seed::kSwapSeedOffset, other, 1u << 20)));
}
