// sysfs and procfs attribute I/O (the one reader and writer: cpu, memory, disk, iface,
// boot sysctl), and the kernel's list format.

#include "plugins/sysfs.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/fd.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/iface/iface.hpp"
#include "tests/fake_sysfs.hpp"
#include "tests/support.hpp"
#include "tests/unit/iface_fake.hpp"

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

// ---- EINTR and short writes, shown with a pipe and a signal

namespace {

std::atomic<int> g_signals{0};
void count_signal(int) {
  g_signals.fetch_add(1);
}

// SIGUSR1 with a handler and without SA_RESTART, as a program that handles signals
// (the agent's SIGIO, a driver's SIGTERM) has it: a blocked read(2) or write(2) then
// returns EINTR, or the bytes it moved so far. Restored on scope exit.
class SignalWithoutRestart {
 public:
  SignalWithoutRestart() {
    struct sigaction sa {};
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ::sigaction(SIGUSR1, &sa, &old_);
  }
  ~SignalWithoutRestart() { ::sigaction(SIGUSR1, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

// The scheduler state of one of our threads ('R', 'S'...), from procfs.
char thread_state(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() ? stat[paren + 2] : '?';
}

// Waits (an event, no clock) until `thread` sleeps in the kernel, then interrupts it
// with one signal and waits for its handler to have run.
void interrupt_when_blocked(pthread_t thread, pid_t tid) {
  while (thread_state(tid) != 'S') std::this_thread::yield();
  const int before = g_signals.load();
  ::pthread_kill(thread, SIGUSR1);
  while (g_signals.load() == before) std::this_thread::yield();
}

}  // namespace

TEST_CASE("read_fd retries a read interrupted by a signal", "[sysfs]") {
  SignalWithoutRestart sig;
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  core::UniqueFd in(p[0]), out(p[1]);
  const pthread_t self = ::pthread_self();
  const pid_t tid = ::gettid();
  const int before = g_signals.load();
  ssize_t wrote = 0;
  std::thread writer([&] {              // no Catch2 assertion off the test's thread
    interrupt_when_blocked(self, tid);  // read(2) returns EINTR here
    wrote = ::write(out.get(), "online_movable\n", 15);
    out.reset();
  });
  auto text = sysfs::read_fd(in.get(), sysfs::kMaxAttr, "read pipe");
  writer.join();
  CHECK(wrote == 15);
  CHECK(g_signals.load() > before);
  REQUIRE(text);
  CHECK(*text == "online_movable");
}

TEST_CASE("write_fd retries EINTR and finishes a short write, in order", "[sysfs]") {
  SignalWithoutRestart sig;
  const pthread_t self = ::pthread_self();
  const pid_t tid = ::gettid();
  // A pipe of one page; its reader (another thread) interrupts our write once it
  // blocks, then reads until the write end is closed. Returns what it read.
  const auto write_interrupted = [&](std::string_view prefill, std::string_view value,
                                     core::Status& written) {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    core::UniqueFd in(p[0]), out(p[1]);
    REQUIRE(::fcntl(out.get(), F_SETPIPE_SZ, 4096) == 4096);
    REQUIRE(::write(out.get(), prefill.data(), prefill.size()) ==
            static_cast<ssize_t>(prefill.size()));
    std::string got;
    std::thread reader([&] {  // no Catch2 assertion off the test's thread
      interrupt_when_blocked(self, tid);
      char buf[4096];
      for (;;) {
        const ssize_t n = ::read(in.get(), buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
      }
    });
    written = sysfs::write_fd(out.get(), value, "write pipe");
    out.reset();  // the reader's end of file, however write_fd ended
    reader.join();
    return got;
  };

  // 1. Short: the pipe takes a page, then the write blocks; the signal ends it with
  //    what it moved so far, and write_fd must go on with the rest.
  std::string value;
  for (int i = 0; value.size() < 3 * 4096; ++i) value += std::to_string(i) + ",";
  core::Status written;
  CHECK(write_interrupted("", value, written) == value);
  CHECK(written);

  // 2. EINTR: a full pipe, so the write blocks before moving a byte.
  const std::string fill(4096, 'f');
  CHECK(write_interrupted(fill, "1\n", written) == fill + "1\n");
  CHECK(written);

  // 3. The errno of a failed write is the Error's code: no reader is EPIPE.
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  core::UniqueFd out(p[1]);
  ::close(p[0]);
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  auto broken = sysfs::write_fd(out.get(), "1", "write pipe");
  ::sigaction(SIGPIPE, &old, nullptr);
  REQUIRE_FALSE(broken);
  CHECK(broken.error().code == std::error_code(EPIPE, std::system_category()));
  CHECK(broken.error().message() == "write pipe: Broken pipe");
}

// ---- one reader for every caller: numbers checked, links and sizes refused

TEST_CASE("read_u64 takes plain decimal numbers only and names the file otherwise", "[sysfs]") {
  TempDir t;
  t.write("sys/class/block/vdb/size", "41943040\n");
  auto dir = sysfs::Dir::open(t.root(), "/sys/class/block/vdb");
  REQUIRE(dir);
  CHECK(dir->read_u64("size")->value() == 41943040u);
  CHECK_FALSE(dir->read_u64("start")->has_value());  // absent
  for (const char* bad : {"12abc", "-1", "+5", "0x10", "", "1 2", "18446744073709551616"}) {
    INFO(bad);
    t.write("sys/class/block/vdb/start", std::string(bad) + "\n");
    auto r = dir->read_u64("start");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::Errc::bad_input);
    CHECK(r.error().message() == (t.path() / "sys/class/block/vdb/start").string() +
                                     ": not a decimal number: '" + bad + "'");
  }
}

TEST_CASE("read_attr and write_attr: by full path, newline handled, capped, never created",
          "[sysfs]") {
  TempDir t;
  const auto root = t.root();
  t.write("proc/sys/vm/swappiness", "60\n");
  CHECK(sysfs::read_attr(root, "/proc/sys/vm/swappiness")->value() == "60");
  CHECK_FALSE(sysfs::read_attr(root, "/proc/sys/vm/nope")->has_value());
  CHECK_FALSE(sysfs::read_attr(root, "/proc/sys/nodir/nope")->has_value());
  REQUIRE(sysfs::write_attr(root, "/proc/sys/vm/swappiness", "10\n"));
  CHECK(t.read("proc/sys/vm/swappiness") == "10\n");
  auto missing = sysfs::write_attr(root, "/proc/sys/vm/nope", "1\n");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == std::errc::no_such_file_or_directory);
  CHECK_FALSE(fs::exists(t.path() / "proc/sys/vm/nope"));
  // The newline a /proc/sys value is written with is not in the message.
  t.write("proc/sys/vm/ro", "0\n", 0444);
  core::Status refused;
  guestkit::test::without_dac_override(
      [&] { refused = sysfs::write_attr(root, "/proc/sys/vm/ro", "1\n"); });
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == std::error_code(EACCES, std::system_category()));
  CHECK(refused.error().message() ==
        "write 1 to " + (t.path() / "proc/sys/vm/ro").string() + ": Permission denied");

  // Larger than any attribute: EFBIG, never a truncated value.
  t.write("sys/devices/system/cpu/online", std::string(sysfs::kMaxAttr + 1, '0'));
  auto big = sysfs::read_attr(root, "/sys/devices/system/cpu/online");
  REQUIRE_FALSE(big);
  CHECK(big.error().code == std::errc::file_too_large);
  // A link in the directory path: refused unless asked to follow it inside the root.
  t.write("sys/devices/system/cpu2/online", "0-3\n");
  fs::create_directories(t.path() / "sys/class");
  fs::create_symlink("../devices/system/cpu2", t.path() / "sys/class/cpu");
  CHECK_FALSE(sysfs::read_attr(root, "/sys/class/cpu/online"));
  CHECK(sysfs::read_attr(root, "/sys/class/cpu/online", core::Follow::in_root)->value() == "0-3");
}

TEST_CASE("disk and iface read sysfs numbers strictly through the one reader", "[sysfs]") {
  TempDir t;
  // iface: from_chars<int> took "-3" as an ifindex.
  guestkit::test::FakeNic eth1;
  eth1.name = "eth1";
  eth1.ifindex = 3;
  guestkit::test::add_fake_nic(t, eth1);
  auto nic = guestkit::plugins::iface::read_iface(t.root(), "eth1");
  REQUIRE(nic);
  CHECK(nic->ifindex == 3);
  t.write("sys/class/net/eth1/ifindex", "-3\n");
  CHECK(guestkit::plugins::iface::read_iface(t.root(), "eth1")->ifindex == 0);
  t.write("sys/class/net/eth1/ifindex", "3abc\n");
  CHECK(guestkit::plugins::iface::read_iface(t.root(), "eth1")->ifindex == 0);

  // disk: a size that is no number is no size (the device is then skipped).
  t.write("sys/class/block/vdb/dev", "254:16\n");
  t.write("sys/class/block/vdb/size", "2048\n");
  t.write("sys/class/block/vdb/ro", "1\n");
  auto vdb = guestkit::plugins::disk::read_block_device(t.root(), "vdb");
  REQUIRE(vdb);
  CHECK(vdb->size_bytes == 2048u * 512);
  CHECK(vdb->devno == makedev(254, 16));
  CHECK(vdb->read_only);
  t.write("sys/class/block/vdb/size", "-1\n");
  CHECK(guestkit::plugins::disk::read_block_device(t.root(), "vdb")->size_bytes == 0);
  t.write("sys/class/block/vdb/dev", "+254:16\n");
  CHECK_FALSE(guestkit::plugins::disk::read_block_device(t.root(), "vdb"));
}

TEST_CASE("hexadecimal sysfs numbers are parsed strictly, by one parser", "[sysfs]") {
  CHECK(sysfs::parse_hex_u64("8000000") == 0x8000000u);
  CHECK(sysfs::parse_hex_u64("00000020") == 0x20u);
  CHECK(sysfs::parse_hex_u64("ffffffffffffffff") == UINT64_MAX);
  for (const char* bad : {"", "0x10", "-1", "+1", " 1", "1 ", "10000000000000000", "g"}) {
    INFO(bad);
    CHECK_FALSE(sysfs::parse_hex_u64(bad));
  }
}
