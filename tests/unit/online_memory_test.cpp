// Memory block onlining (10-online-memory, 21-coldplug-memory) on fake sysfs trees.

#include "plugins/memory/online_memory.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "plugins/runner.hpp"
#include "tests/fake_sysfs.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace mem = guestkit::plugins::memory;
namespace plugins = guestkit::plugins;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using guestkit::test::FakeSysfs;
using guestkit::test::kGiB;
using guestkit::test::kMiB;
using guestkit::test::SysfsRefusals;
using guestkit::test::TempDir;

namespace {

core::Context context(const TempDir& t, core::MemoryPolicy policy = core::MemoryPolicy::automatic) {
  core::Config config;
  config.memory.online_policy = policy;
  return core::Context(t.root(), config);
}

// Onlines one block through a fresh Onliner, as one udev event would.
core::Result<mem::Onlined> online_one(const core::Context& ctx, unsigned id) {
  auto onliner = mem::Onliner::open(ctx);
  if (!onliner) return std::move(onliner).error();
  return onliner->online(id);
}

// An Onliner whose writes meet the kernel's refusals in `refusals`; the others go
// through sysfs::Dir::write to the fake tree.
core::Result<mem::Onlined> online_refused(const core::Context& ctx, unsigned id,
                                          SysfsRefusals& refusals) {
  auto onliner = mem::Onliner::open(ctx);
  if (!onliner) return std::move(onliner).error();
  onliner->set_writer([&refusals](const guestkit::plugins::sysfs::Dir& dir, std::string_view attr,
                                  std::string_view value) -> core::Status {
    if (int err = refusals.match(dir.guest(), attr, value))  // as Dir::write says it
      return core::errno_error("write " + std::string(value) + " to " + dir.display(attr), err);
    return dir.write(attr, value);
  });
  return onliner->online(id);
}

constexpr const char* kBlock3 = "/sys/devices/system/memory/memory3";

}  // namespace

TEST_CASE("each fixed memory policy writes its state", "[memory]") {
  for (auto [policy, state] : {std::pair{core::MemoryPolicy::online, "online"},
                               std::pair{core::MemoryPolicy::online_movable, "online_movable"},
                               std::pair{core::MemoryPolicy::online_kernel, "online_kernel"}}) {
    INFO(state);
    TempDir t;
    FakeSysfs sys(t);
    sys.memory(8, 128 * kMiB, {5});
    auto r = online_one(context(t, policy), 5);
    REQUIRE(r);
    CHECK(r->result == mem::Result::onlined);
    CHECK(r->state == state);
    CHECK(sys.block_state(5) == state);
    CHECK(sys.block_state(4) == "online\n");  // others untouched
  }
}

TEST_CASE("auto: movable while within the ratio, kernel beyond it", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(10, 128 * kMiB, {8, 9});
  sys.zoneinfo(1 * kGiB, 3 * kGiB - 128 * kMiB);  // room for exactly one more movable block
  auto ctx = context(t);
  auto onliner = mem::Onliner::open(ctx);
  REQUIRE(onliner);
  auto first = onliner->online(8);
  REQUIRE(first);
  CHECK(first->state == "online_movable");
  CHECK(first->detail == "auto: movable 2.9 GiB + 128 MiB <= 3 x kernel 1 GiB");
  auto second = onliner->online(9);  // the first one is booked: no room left
  REQUIRE(second);
  CHECK(second->state == "online_kernel");
  CHECK(second->detail == "auto: movable 3 GiB + 128 MiB > 3 x kernel 1 GiB");
  CHECK(sys.block_state(8) == "online_movable");
  CHECK(sys.block_state(9) == "online_kernel");
  CHECK(onliner->zones()->movable == 3 * kGiB);
  CHECK(onliner->zones()->kernel == 1 * kGiB + 128 * kMiB);
}

TEST_CASE("auto: one process at a time weighs the zones", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {2, 3});
  auto ctx = context(t);
  auto first = mem::Onliner::open(ctx);
  REQUIRE(first);
  CHECK(fs::exists(t.path() / "run/guestkit/lock/memory-zones.lock"));
  std::atomic<bool> second_open{false};
  std::thread udev([&] {
    auto second = mem::Onliner::open(ctx);  // another block's event, in parallel
    second_open = second.ok();
  });
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(second_open);  // waits while the first one decides
  REQUIRE(first->online(2));
  first = core::make_error(core::Errc::bad_input, "done");  // drops the first Onliner
  udev.join();
  CHECK(second_open);
  // A fixed policy weighs nothing and takes no lock.
  auto fixed = context(t, core::MemoryPolicy::online_kernel);
  auto a = mem::Onliner::open(fixed);
  auto b = mem::Onliner::open(fixed);
  CHECK((a.ok() && b.ok()));
}

TEST_CASE("auto: a block the kernel offers only kernel zones for goes there", "[memory]") {
  // For real, valid_zones is read when the kernel refuses the ratio's pick (EINVAL: the
  // next test); dry-run reads it up front to predict the same choice.
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {});
  sys.block(3, "offline", "Normal");
  auto ctx = context(t);
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  auto r = online_one(ctx, 3);
  REQUIRE(r);
  CHECK(r->state == "online_kernel");
  CHECK(out.str() == "would write online_kernel to " +
                         sys.path("/sys/devices/system/memory/memory3/state") +
                         " (auto: the kernel offers only 'Normal')\n");
  CHECK(sys.block_state(3) == "offline\n");
}

TEST_CASE("auto: the kernel's EINVAL for the ratio's pick is retried in the zone it offers",
          "[memory]") {
  // The live path: the ratio picks movable, the kernel (valid_zones "Normal") refuses
  // with EINVAL, valid_zones is read and the block goes to the kernel zone instead.
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {});
  sys.block(3, "offline", "Normal");
  auto ctx = context(t);
  SysfsRefusals refusals;
  refusals.add(kBlock3, "state", "online_movable", EINVAL);
  auto r = online_refused(ctx, 3, refusals);
  REQUIRE(r);
  CHECK(r->result == mem::Result::onlined);
  CHECK(r->state == "online_kernel");
  CHECK(r->detail == "auto: the kernel offers only 'Normal'");
  CHECK(refusals.attempts ==
        std::vector<std::string>{"memory3/state=online_movable", "memory3/state=online_kernel"});
  CHECK(sys.block_state(3) == "online_kernel");

  SECTION("the retry refused too is the kernel's error, the block left offline") {
    sys.block(3, "offline", "Normal");
    refusals.add(kBlock3, "state", "online_kernel", EBUSY);
    refusals.attempts.clear();
    auto again = online_refused(ctx, 3, refusals);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == std::errc::device_or_resource_busy);
    CHECK(refusals.attempts.size() == 2);
    CHECK(sys.block_state(3) == "offline\n");
  }
}

TEST_CASE("auto: EBUSY, or EINVAL for a zone the kernel offers, is no reason to retry",
          "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {});
  auto ctx = context(t);
  SysfsRefusals refusals;
  SECTION("EBUSY") {
    sys.block(3, "offline", "Normal");
    refusals.add(kBlock3, "state", "online_movable", EBUSY);
    auto r = online_refused(ctx, 3, refusals);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == std::errc::device_or_resource_busy);
    CHECK(r.error().message() == "write online_movable to " +
                                     sys.path(std::string(kBlock3) + "/state") +
                                     ": Device or resource busy");
  }
  SECTION("EINVAL with Movable offered: the pick stands, the error is the kernel's") {
    sys.block(3, "offline", "Movable Normal");
    refusals.add(kBlock3, "state", "online_movable", EINVAL);
    auto r = online_refused(ctx, 3, refusals);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == std::errc::invalid_argument);
  }
  SECTION("EINVAL under a fixed policy: nothing else to try") {
    sys.block(3, "offline", "Normal");
    auto fixed = context(t, core::MemoryPolicy::online_movable);
    refusals.add(kBlock3, "state", "online_movable", EINVAL);
    auto r = online_refused(fixed, 3, refusals);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == std::errc::invalid_argument);
  }
  CHECK(refusals.attempts == std::vector<std::string>{"memory3/state=online_movable"});
  CHECK(sys.block_state(3) == "offline\n");
}

TEST_CASE("a block onlined between our read and our write (EINVAL) is online already", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {3});
  auto ctx = context(t, core::MemoryPolicy::online_movable);
  auto onliner = mem::Onliner::open(ctx);
  REQUIRE(onliner);
  int writes = 0;
  // A udev rule onlines the block first; the kernel then refuses our write with EINVAL.
  onliner->set_writer([&](const guestkit::plugins::sysfs::Dir& dir, std::string_view attr,
                          std::string_view) -> core::Status {
    ++writes;
    sys.block(3, "online", "Normal");
    return core::errno_error(dir.display(attr), EINVAL);
  });
  auto r = onliner->online(3);
  REQUIRE(r);
  CHECK(r->result == mem::Result::already_online);
  CHECK(r->detail == "onlined meanwhile");
  CHECK(writes == 1);
}

TEST_CASE("auto: no /proc/zoneinfo, the kernel picks with plain online", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {3});
  fs::remove(t.path() / "proc/zoneinfo");
  auto r = online_one(context(t), 3);
  REQUIRE(r);
  CHECK(r->state == "online");
  CHECK(sys.block_state(3) == "online");
}

TEST_CASE("a kernel that auto-onlines memory is left to it, unless configured to insist",
          "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {3}, "online_movable");
  auto ctx = context(t);
  auto onliner = mem::Onliner::open(ctx);
  REQUIRE(onliner);
  CHECK(onliner->defer_reason() ==
        "the kernel onlines new memory itself (auto_online_blocks: online_movable; "
        "memory.ignore_auto_online: true would override)");
  plugins::RunOptions o;
  o.args = {"memory3"};
  o.record = false;
  auto s = plugins::run_plugins(ctx, "memory-add", o);
  REQUIRE(s.records.size() == 1);
  CHECK(s.records[0].status == plugins::RunStatus::skipped);
  auto sweep = mem::coldplug(ctx);
  REQUIRE(sweep);
  CHECK(sweep->skipped == *onliner->defer_reason());
  CHECK(sys.block_state(3) == "offline\n");

  ctx.config.memory.ignore_auto_online = true;
  auto insist = plugins::run_plugins(ctx, "memory-add", o);
  CHECK(insist.records[0].status == plugins::RunStatus::changed);
  CHECK(sys.block_state(3) == "online_movable");
}

TEST_CASE("no auto_online_blocks (before Linux 4.7) means nobody else onlines", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {2});
  fs::remove(t.path() / "sys/devices/system/memory/auto_online_blocks");
  auto ctx = context(t);
  auto onliner = mem::Onliner::open(ctx);
  REQUIRE(onliner);
  CHECK(onliner->auto_online() == "offline");
  CHECK_FALSE(onliner->defer_reason());
  CHECK(onliner->online(2)->result == mem::Result::onlined);
}

TEST_CASE("a block that refuses is reported with the reason and left, the rest go on", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(8, 128 * kMiB, {4, 5, 6});
  // sysfs answers EBUSY/EINVAL; a fake tree can only refuse through permissions, so
  // state is 0444 and the sweep runs without root's override (a real EACCES).
  auto refusing = t.write("sys/devices/system/memory/memory5/state", "offline\n", 0444);
  auto ctx = context(t, core::MemoryPolicy::online_movable);
  std::optional<core::Result<plugins::SweepReport>> sweep;
  std::optional<core::Result<mem::Onlined>> single;
  guestkit::test::without_dac_override([&] {
    single.emplace(online_one(ctx, 5));
    sweep.emplace(mem::coldplug(ctx));
  });
  REQUIRE_FALSE(*single);
  CHECK(single->error().message() ==
        "write online_movable to " + refusing.string() + ": Permission denied");
  REQUIRE(*sweep);
  CHECK((*sweep)->onlined == std::vector<unsigned>{4, 6});
  REQUIRE((*sweep)->failures.size() == 1);
  CHECK((*sweep)->failures[0].first == 5);
  CHECK((*sweep)->failures[0].second.code == std::errc::permission_denied);
  auto out = plugins::outcome(**sweep);
  REQUIRE_FALSE(out);
  CHECK(out.error().context == "1 memory block left offline: memory5");
  CHECK(sys.block_state(5) == "offline\n");
  CHECK(sys.block_state(4) == "online_movable");
  CHECK(sys.block_state(6) == "online_movable");
}

TEST_CASE("an unreadable block is a failure of its own, odd states are left alone", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(6, 128 * kMiB, {1, 2, 3});
  fs::remove(t.path() / "sys/devices/system/memory/memory2/state");
  fs::create_directories(t.path() / "sys/devices/system/memory/memory2/state");
  sys.block(3, "going-offline");
  auto ctx = context(t, core::MemoryPolicy::online_kernel);
  auto odd = online_one(ctx, 3);
  REQUIRE(odd);
  CHECK(odd->result == mem::Result::left);
  CHECK(odd->detail == "state is 'going-offline'");
  auto sweep = mem::coldplug(ctx);
  REQUIRE(sweep);
  CHECK(sweep->onlined == std::vector<unsigned>{1});
  REQUIRE(sweep->failures.size() == 1);
  CHECK(sweep->failures[0].second.message() ==
        "read " + sys.path("/sys/devices/system/memory/memory2/state") + ": Is a directory");
  CHECK(sys.block_state(3) == "going-offline\n");
}

TEST_CASE("coldplug of 4096 offline memory blocks: one pass, the ratio held", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  std::vector<unsigned> offline;
  for (unsigned id = 32; id < 32 + 4096; ++id) offline.push_back(id);
  sys.memory(32 + 4096, 128 * kMiB, offline);  // 4 GiB of boot memory, 512 GiB added
  auto ctx = context(t);
  auto sweep = mem::coldplug(ctx);
  REQUIRE(sweep);
  CHECK(sweep->seen == 4128);
  CHECK(sweep->onlined.size() == 4096);
  CHECK(sweep->already == 32);
  CHECK(sweep->failures.empty());
  // How fast one pass is belongs to bench/ (memory-coldplug), not to a timed test that
  // fails on a loaded machine.
  // 96 blocks fill 3 x 4 GiB; from then on one kernel block makes room for three movable.
  std::size_t movable = 0, kernel = 0;
  for (unsigned id : offline) {
    const auto state = sys.block_state(id);
    movable += state == "online_movable";
    kernel += state == "online_kernel";
  }
  CHECK(movable == 3096);
  CHECK(kernel == 1000);
  CHECK(sys.block_state(127) == "online_movable");
  CHECK(sys.block_state(128) == "online_kernel");
  CHECK(sys.block_state(129) == "online_movable");
  CHECK(sys.block_state(4127) == "online_movable");
  auto again = mem::coldplug(ctx);
  REQUIRE(again);
  CHECK(again->onlined.empty());
  CHECK(again->already == 4128);
}

TEST_CASE("memory dry-run reports every write and changes nothing", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(6, 128 * kMiB, {4, 5});
  auto ctx = context(t);
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  auto sweep = mem::coldplug(ctx);
  REQUIRE(sweep);
  CHECK(sweep->onlined == std::vector<unsigned>{4, 5});
  CHECK(out.str() == "would write online_movable to " +
                         sys.path("/sys/devices/system/memory/memory4/state") +
                         " (auto: movable 0 B + 128 MiB <= 3 x kernel 512 MiB)\n"
                         "would write online_movable to " +
                         sys.path("/sys/devices/system/memory/memory5/state") +
                         " (auto: movable 128 MiB + 128 MiB <= 3 x kernel 512 MiB)\n");
  CHECK(sys.block_state(4) == "offline\n");
  CHECK(sys.block_state(5) == "offline\n");
}

TEST_CASE("memory names are checked, missing blocks and trees reported", "[memory]") {
  CHECK(*mem::check_name("memory32") == 32u);
  for (const char* bad : {"memory3/../..", "memory", "cpu3", "memory032", "mem3"}) {
    INFO(bad);
    CHECK(mem::check_name(bad).error().code == core::Errc::bad_input);
  }
  TempDir t;
  auto ctx = context(t);
  auto none = mem::coldplug(ctx);
  REQUIRE(none);
  CHECK(none->skipped ==
        "no " + (t.path() / "sys/devices/system/memory").string() + " (no memory hotplug)");
  plugins::RunOptions o;
  o.args = {"memory3"};
  o.record = false;
  CHECK(plugins::run_plugins(ctx, "memory-add", o).records.at(0).status ==
        plugins::RunStatus::skipped);
  FakeSysfs sys(t);
  sys.memory(2, 128 * kMiB, {});
  auto missing = online_one(ctx, 7);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == std::errc::no_such_file_or_directory);
}

TEST_CASE("memory status counts, lists and sizes", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(12, 128 * kMiB, {8, 9, 11});
  sys.block(10, "going-offline");
  auto ctx = context(t);
  auto st = mem::status(ctx);
  REQUIRE(st);
  std::ostringstream os;
  mem::print_status(os, *st, ctx.config.memory);
  CHECK(os.str() ==
        "online:  8 memory0-7 (1 GiB)\n"
        "offline: 3 memory8-9,11 (384 MiB)\n"
        "other:   1 memory10 (128 MiB)\n"
        "block size: 128 MiB\n"
        "kernel auto-online: offline\n"
        "policy: auto (movable_ratio 3)\n"
        "zones: kernel 1.1 GiB, movable 0 B\n");
}

TEST_CASE("memory-add runs 10-online-memory, then external plugins with the block", "[memory]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(4, 128 * kMiB, {3});
  t.write("etc/guestkit/plugins.d/memory-add/50-after",
          "#!/bin/sh\necho \"$1 $(cat \"$GUESTKIT_ROOT/sys/devices/system/memory/$1/state\")\""
          " > \"$GUESTKIT_ROOT/note\"\n",
          0755);
  auto ctx = context(t);
  plugins::RunOptions o;
  o.args = {"memory3"};
  auto s = plugins::run_plugins(ctx, "memory-add", o);
  CHECK(s.exit_code() == 0);
  REQUIRE(s.records.size() == 2);
  CHECK(s.records[0].name == "10-online-memory");
  CHECK(s.records[0].status == plugins::RunStatus::changed);
  CHECK(t.read("note") == "memory3 online_movable\n");
}

// Debian 13's kernel (CONFIG_MHP_DEFAULT_ONLINE_TYPE_ONLINE_AUTO) onlines a DIMM itself,
// into ZONE_NORMAL, before udev sees it: in the e2e trixie guest the DIMM could not be
// taken back and memory.online_policy never applied. The boot stage now sets
// auto_online_blocks to offline, unless the kernel command line chose it.
TEST_CASE("the boot takes auto-onlining back from a kernel built to do it, not from a chosen one",
          "[memory]") {
  for (const bool chosen : {false, true}) {
    INFO((chosen ? "memhp_default_state= on the command line" : "the kernel's build default"));
    TempDir t;
    FakeSysfs sys(t);
    sys.memory(4, 128 * kMiB, {3}, "online");
    t.write("proc/cmdline",
            std::string("root=/dev/vda ro") + (chosen ? " memhp_default_state=online" : "") + "\n");
    auto ctx = context(t);
    plugins::RunOptions o;
    o.record = false;
    o.builtins = {};
    for (const auto& b : plugins::builtin_plugins())
      if (b.name == "21-coldplug-memory") o.builtins = {&b, 1};
    auto s = plugins::run_plugins(ctx, "mount", o);
    REQUIRE(s.records.size() == 1);
    const auto automatic = t.read("sys/devices/system/memory/auto_online_blocks");
    if (chosen) {
      CHECK(automatic.rfind("online", 0) == 0);
      CHECK(sys.block_state(3) == "offline\n");  // left to the kernel's choice
    } else {
      CHECK(automatic == "offline");
      CHECK(s.records[0].status == plugins::RunStatus::changed);
      CHECK(sys.block_state(3) == "online_movable");  // the policy's zone
      // The next DIMM's udev event is guestkit's too.
      auto onliner = mem::Onliner::open(ctx);
      REQUIRE(onliner);
      CHECK_FALSE(onliner->defer_reason());
    }
  }
}
