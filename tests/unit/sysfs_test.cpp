// sysfs attribute I/O for the CPU and memory plugins, and the kernel's list format.

#include "plugins/sysfs.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/fake_sysfs.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace sysfs = guestkit::plugins::sysfs;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

TEST_CASE("parse_indexed_name takes canonical kernel names only", "[sysfs]") {
  CHECK(sysfs::parse_indexed_name("cpu0", "cpu") == 0u);
  CHECK(sysfs::parse_indexed_name("cpu12", "cpu") == 12u);
  CHECK(sysfs::parse_indexed_name("memory4095", "memory") == 4095u);
  CHECK(sysfs::parse_indexed_name("memory999999999", "memory") == 999999999u);
  for (const char* bad : {"cpu", "cpu01", "cpu-1", "cpu+1", "cpu1a", "cpu 1", "cpu3/../..", "CPU1",
                          "memory1", "xcpu1", "cpu1000000000", ""}) {
    INFO(bad);
    CHECK_FALSE(sysfs::parse_indexed_name(bad, "cpu"));
  }
}

TEST_CASE("the kernel's list format parses and prints back", "[sysfs]") {
  using R = sysfs::Ranges;
  CHECK(sysfs::parse_ranges("0-3,6\n") == R{{0, 3}, {6, 6}});
  CHECK(sysfs::parse_ranges("0") == R{{0, 0}});
  CHECK(sysfs::parse_ranges("\n") == R{});
  CHECK(sysfs::parse_ranges("") == R{});
  for (const char* bad : {"0-", "-3", "3-1", "0,,1", "0-3,", "a", "0 1", "1-2-3"}) {
    INFO(bad);
    CHECK_FALSE(sysfs::parse_ranges(bad));
  }
  const auto r = *sysfs::parse_ranges("0-3,6,8-9");
  CHECK(sysfs::in_ranges(r, 0));
  CHECK(sysfs::in_ranges(r, 3));
  CHECK_FALSE(sysfs::in_ranges(r, 4));
  CHECK(sysfs::in_ranges(r, 6));
  CHECK(sysfs::in_ranges(r, 9));
  CHECK_FALSE(sysfs::in_ranges(r, 10));

  CHECK(sysfs::format_ranges("cpu", {0, 1, 2, 3, 6}) == "cpu0-3,6");
  CHECK(sysfs::format_ranges("memory", {5}) == "memory5");
  CHECK(sysfs::format_ranges("memory", {0, 2, 4, 5}) == "memory0,2,4-5");
  CHECK(sysfs::format_ranges("cpu", {}) == "-");
  CHECK(sysfs::indexed({"cpu10", "cpu2", "cpufreq", "online", "cpu0"}, "cpu") ==
        std::vector<unsigned>{0, 2, 10});
}

TEST_CASE("format_bytes", "[sysfs]") {
  CHECK(sysfs::format_bytes(0) == "0 B");
  CHECK(sysfs::format_bytes(128 * guestkit::test::kMiB) == "128 MiB");
  CHECK(sysfs::format_bytes(3 * guestkit::test::kGiB / 2) == "1.5 GiB");
  CHECK(sysfs::format_bytes(512 * guestkit::test::kGiB) == "512 GiB");
}

TEST_CASE("Dir reads attributes trimmed, absent ones as nullopt, and writes whole", "[sysfs]") {
  TempDir t;
  t.write("sys/devices/system/memory/memory3/state", "offline\n");
  auto dir = sysfs::Dir::open(t.root(), "/sys/devices/system/memory");
  REQUIRE(dir);
  CHECK(dir->guest() == "/sys/devices/system/memory");
  auto block = dir->child("memory3");
  REQUIRE(block);
  CHECK(block->guest() == "/sys/devices/system/memory/memory3");
  CHECK(block->read("state")->value() == "offline");
  CHECK_FALSE(block->read("valid_zones")->has_value());
  // A longer value replaced by a shorter one leaves no tail behind.
  REQUIRE(block->write("state", "online_movable"));
  REQUIRE(block->write("state", "online"));
  CHECK(t.read("sys/devices/system/memory/memory3/state") == "online");
  // Writing never creates an attribute.
  auto missing = block->write("online", "1");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == std::errc::no_such_file_or_directory);
  CHECK_FALSE(fs::exists(t.path() / "sys/devices/system/memory/memory3/online"));
  CHECK(block->display("state") == (t.path() / "sys/devices/system/memory/memory3/state").string());
  auto nodir = dir->child("memory4");
  REQUIRE_FALSE(nodir);
  CHECK(nodir.error().code == std::errc::no_such_file_or_directory);
}

TEST_CASE("Dir never follows a symlink, and never reads or writes a FIFO", "[sysfs]") {
  TempDir t;
  t.write("elsewhere/state", "offline\n");
  t.write("sys/devices/system/memory/memory1/state", "offline\n");
  fs::create_directories(t.path() / "sys/devices/system/memory/memory2");
  fs::create_symlink(t.path() / "elsewhere", t.path() / "sys/devices/system/memory/memory0");
  fs::create_symlink(t.path() / "elsewhere/state",
                     t.path() / "sys/devices/system/memory/memory2/state");
  REQUIRE(::mkfifo((t.path() / "sys/devices/system/memory/memory1/online").c_str(), 0644) == 0);
  auto dir = sysfs::Dir::open(t.root(), "/sys/devices/system/memory");
  REQUIRE(dir);

  auto linked = dir->child("memory0");
  REQUIRE_FALSE(linked);
  CHECK(linked.error().code == core::Errc::symlink_refused);
  auto link_attr = dir->child("memory2")->read("state");
  REQUIRE_FALSE(link_attr);
  CHECK(link_attr.error().code == core::Errc::symlink_refused);
  CHECK_FALSE(dir->child("memory2")->write("state", "online"));
  CHECK(t.read("elsewhere/state") == "offline\n");

  auto block = dir->child("memory1");
  REQUIRE(block);
  auto fifo_read = block->read("online");  // would block forever without O_NONBLOCK
  REQUIRE(fifo_read);
  CHECK(fifo_read->value() == "");                // no writer: end of file at once
  auto fifo_write = block->write("online", "1");  // no reader: ENXIO, never a hang
  REQUIRE_FALSE(fifo_write);
  CHECK(fifo_write.error().code == std::errc::no_such_device_or_address);
  CHECK_FALSE(block->child("..").ok());
  CHECK_FALSE(block->read("../memory1/state").ok());

  // The directory itself is reached without following links either.
  TempDir u;
  fs::create_directories(u.path() / "real/memory");
  fs::create_directories(u.path() / "sys/devices/system");
  fs::create_symlink("../../../real/memory", u.path() / "sys/devices/system/memory");
  auto via_link = sysfs::Dir::open(u.root(), "/sys/devices/system/memory");
  REQUIRE_FALSE(via_link);
  CHECK(via_link.error().code == core::Errc::symlink_refused);
}

TEST_CASE("a write the kernel refuses comes back with its errno", "[sysfs]") {
  TempDir t;
  auto state = t.write("sys/devices/system/memory/memory7/state", "offline\n", 0444);
  auto dir = sysfs::Dir::open(t.root(), "/sys/devices/system/memory/memory7");
  REQUIRE(dir);
  core::Status written;
  guestkit::test::without_dac_override([&] { written = dir->write("state", "online"); });
  REQUIRE_FALSE(written);
  CHECK(written.error().code == std::errc::permission_denied);
  CHECK(written.error().message() == "write online to " + state.string() + ": Permission denied");
  CHECK(t.read("sys/devices/system/memory/memory7/state") == "offline\n");
}

TEST_CASE("sysfs numbers and device numbers are parsed strictly", "[sysfs]") {
  // The old readers: strtoull read "-1" as 2^64-1 (a disk of 8 ZiB) and sscanf("%u:%u")
  // took "-1:3" and "+8:0" as device numbers.
  CHECK(sysfs::parse_u64("0") == 0u);
  CHECK(sysfs::parse_u64("41943040") == 41943040u);
  CHECK(sysfs::parse_u64("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "-1", "+5", " 5", "5 ", "12abc", "0x10", "18446744073709551616"}) {
    INFO(bad);
    CHECK_FALSE(sysfs::parse_u64(bad));
  }
  REQUIRE(sysfs::parse_devno("254:16"));
  CHECK(major(*sysfs::parse_devno("254:16")) == 254u);
  CHECK(minor(*sysfs::parse_devno("254:16")) == 16u);
  for (const char* bad : {"-1:3", "+8:0", "8:", ":0", "8:0:1", "8 :0", "4096:0", "8:1048576", "8"}) {
    INFO(bad);
    CHECK_FALSE(sysfs::parse_devno(bad));
  }
}
