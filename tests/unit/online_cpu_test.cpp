// vCPU onlining (10-online-cpu, 20-coldplug-cpus) on fake sysfs trees.

#include "plugins/cpu/online_cpu.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <sstream>
#include <thread>

#include "plugins/runner.hpp"
#include "tests/fake_sysfs.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace cpu = guestkit::plugins::cpu;
namespace plugins = guestkit::plugins;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using guestkit::test::FakeSysfs;
using guestkit::test::TempDir;

namespace {

core::Context context(const TempDir& t, std::chrono::milliseconds timeout = 2s) {
  core::Config config;
  config.cpu.online_timeout = timeout;
  return core::Context(t.root(), config);
}

}  // namespace

TEST_CASE("an offline CPU comes online, an online one is left as it is", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {2});
  auto ctx = context(t);
  auto up = cpu::online(ctx, 2);
  REQUIRE(up);
  CHECK(up->result == cpu::Result::onlined);
  CHECK(sys.cpu_online(2) == "1");
  auto again = cpu::online(ctx, 3);
  REQUIRE(again);
  CHECK(again->result == cpu::Result::already_online);
  CHECK(sys.cpu_online(3) == "1\n");  // not rewritten
}

TEST_CASE("cpu0 is never touched, even where it has an online file", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpu(0, false);
  sys.cpu_list("");
  auto ctx = context(t);
  auto r = cpu::online(ctx, 0);
  REQUIRE(r);
  CHECK(r->result == cpu::Result::boot_cpu);
  CHECK(sys.cpu_online(0) == "0\n");
}

TEST_CASE("a running CPU without an online file is not hotpluggable: done at once", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpu(3, std::nullopt);
  sys.cpu_list("0-3");
  // No waiting for a file that will never come: with a 60 s timeout, a wait would end
  // at the deadline; half of it is far beyond what load adds to an immediate answer.
  auto ctx = context(t, 60s);
  const auto start = Clock::now();
  auto r = cpu::online(ctx, 3);
  REQUIRE(r);
  CHECK(r->result == cpu::Result::not_hotpluggable);
  CHECK(Clock::now() - start < 30s);
  CHECK_FALSE(fs::exists(sys.path("/sys/devices/system/cpu/cpu3/online")));
}

TEST_CASE("an online file that appears late is waited for", "[cpu]") {
  // Events, not wall-clock ceilings: the "kernel" creates the file only once the wait
  // has started (a promise), and says when; the wait must end after that and long
  // before its 60 s deadline (it polls, backing off to 64 ms; a wait that slept to its
  // deadline, or looked only once, fails here).
  TempDir t;
  FakeSysfs sys(t);
  sys.cpu(3, std::nullopt);  // registered, attributes not there yet
  sys.cpu_list("0-2");
  auto ctx = context(t, 60s);
  std::promise<void> waiting;
  std::promise<Clock::time_point> appeared;
  std::thread kernel([&, start = waiting.get_future()]() mutable {
    start.wait();
    std::this_thread::sleep_for(200ms);  // let the wait go round a few times
    const auto when = Clock::now();
    t.write("sys/devices/system/cpu/cpu3/online", "0\n");
    appeared.set_value(when);
  });
  auto appeared_at = appeared.get_future();
  waiting.set_value();
  auto r = cpu::online(ctx, 3);
  const auto done = Clock::now();
  kernel.join();
  REQUIRE(r);
  CHECK(r->result == cpu::Result::onlined);
  CHECK(sys.cpu_online(3) == "1");
  const auto when = appeared_at.get();
  CHECK(done > when);
  CHECK(done - when < 30s);
}

TEST_CASE("a CPU directory that appears late is waited for too", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(2);
  auto ctx = context(t, 60s);  // the deadline is no bound: load may delay the writer
  std::thread kernel([&] {
    std::this_thread::sleep_for(200ms);
    t.write("sys/devices/system/cpu/cpu2/online", "0\n");
  });
  auto r = cpu::online(ctx, 2);
  kernel.join();
  REQUIRE(r);
  CHECK(r->result == cpu::Result::onlined);
  CHECK(sys.cpu_online(2) == "1");
}

TEST_CASE("no online file within cpu.online_timeout is reported as a timeout", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(3);
  sys.cpu(3, std::nullopt);  // offline per the kernel's list, and no file to change that
  auto ctx = context(t, 300ms);
  const auto start = Clock::now();
  auto r = cpu::online(ctx, 3);
  const auto took = Clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(r.error().code == core::Errc::timed_out);
  CHECK(r.error().context == sys.path("/sys/devices/system/cpu/cpu3") +
                                 " has no online file after 0.3 s and is not online");
  CHECK(took >= 300ms);  // a floor: load can only make it later
  CHECK(took < 30s);     // and it gives up (at 0.3 s; the allowance is load's, not a bound)

  auto absent = cpu::online(ctx, 9);
  REQUIRE_FALSE(absent);
  CHECK(absent.error().code == core::Errc::timed_out);
  CHECK(absent.error().context ==
        sys.path("/sys/devices/system/cpu/cpu9") + " did not appear within 0.3 s");
}

TEST_CASE("a CPU the kernel refuses to online is an error naming it", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(2);
  t.write("sys/devices/system/cpu/cpu2/online", "0\n", 0444);
  auto ctx = context(t);
  std::optional<core::Result<cpu::Onlined>> r;
  guestkit::test::without_dac_override([&] { r.emplace(cpu::online(ctx, 2)); });
  REQUIRE_FALSE(*r);
  CHECK(r->error().message() ==
        "write 1 to " + sys.path("/sys/devices/system/cpu/cpu2/online") + ": Permission denied");
  CHECK(sys.cpu_online(2) == "0\n");
}

TEST_CASE("cpu dry-run says what it would write and writes nothing", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {2, 3});
  auto ctx = context(t);
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  REQUIRE(cpu::online(ctx, 2)->result == cpu::Result::onlined);
  auto sweep = cpu::coldplug(ctx);
  REQUIRE(sweep);
  CHECK(sweep->onlined == std::vector<unsigned>{2, 3});
  CHECK(out.str() == "would write 1 to " + sys.path("/sys/devices/system/cpu/cpu2/online") + "\n" +
                         "would write 1 to " + sys.path("/sys/devices/system/cpu/cpu2/online") +
                         "\n" + "would write 1 to " +
                         sys.path("/sys/devices/system/cpu/cpu3/online") + "\n");
  CHECK(sys.cpu_online(2) == "0\n");
  CHECK(sys.cpu_online(3) == "0\n");
  CHECK(plugins::describe(*sweep).rfind(
            "would bring 2 of 3 cpus online (cpu2-3), 1 already online, 0 failed (", 0) == 0);
}

TEST_CASE("CPU names are checked: cpuN only", "[cpu]") {
  CHECK(*cpu::check_name("cpu7") == 7u);
  for (const char* bad : {"cpu3/../..", "../cpu3", "cpu", "memory3", "cpu03", "cpu-1", "cpu3 "}) {
    INFO(bad);
    auto r = cpu::check_name(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::Errc::bad_input);
  }
  CHECK(cpu::check_name("cpu3/../..").error().context ==
        "invalid CPU name 'cpu3/../..' (expected cpuN)");
}

TEST_CASE("cpu coldplug onlines every offline CPU but cpu0, in one pass", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(12, {2, 4, 5, 10});
  sys.cpu(0, false);  // a hotpluggable cpu0 that is offline: still left alone
  auto ctx = context(t);
  auto r = cpu::coldplug(ctx);
  REQUIRE(r);
  CHECK(r->seen == 11);
  CHECK(r->onlined == std::vector<unsigned>{2, 4, 5, 10});
  CHECK(r->already == 7);
  CHECK(r->failures.empty());
  for (unsigned id : {2u, 4u, 5u, 10u}) CHECK(sys.cpu_online(id) == "1");
  CHECK(sys.cpu_online(0) == "0\n");
  CHECK(*plugins::outcome(*r) == plugins::Outcome::changed);
  auto again = cpu::coldplug(ctx);
  REQUIRE(again);
  CHECK(again->onlined.empty());
  CHECK(*plugins::outcome(*again) == plugins::Outcome::unchanged);
}

TEST_CASE("cpu coldplug goes on past a refusal and names what was left", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {1, 2, 3});
  t.write("sys/devices/system/cpu/cpu2/online", "0\n", 0444);
  auto ctx = context(t);
  std::optional<core::Result<plugins::SweepReport>> r;
  guestkit::test::without_dac_override([&] { r.emplace(cpu::coldplug(ctx)); });
  REQUIRE(*r);
  CHECK((*r)->onlined == std::vector<unsigned>{1, 3});
  REQUIRE((*r)->failures.size() == 1);
  CHECK((*r)->failures[0].first == 2);
  auto out = plugins::outcome(**r);
  REQUIRE_FALSE(out);
  CHECK(out.error().context == "1 cpu left offline: cpu2");
  CHECK(out.error().code == std::errc::permission_denied);
}

TEST_CASE("cpu coldplug without a cpu directory has nothing to do", "[cpu]") {
  TempDir t;
  auto ctx = context(t, 60s);
  const auto start = Clock::now();
  auto one = cpu::online(ctx, 2);  // an image being built: nothing to wait for
  REQUIRE(one);
  CHECK(one->result == cpu::Result::no_sysfs);
  CHECK(Clock::now() - start < 30s);  // a wait would last the 60 s timeout
  auto r = cpu::coldplug(ctx);
  REQUIRE(r);
  CHECK(r->skipped == "no " + (t.path() / "sys/devices/system/cpu").string());
  CHECK(*plugins::outcome(*r) == plugins::Outcome::skipped);
}

TEST_CASE("cpu status counts and lists, in compact ranges", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(8, {4, 5, 7});
  auto st = cpu::status(t.root());
  REQUIRE(st);
  std::ostringstream os;
  cpu::print_status(os, *st);
  CHECK(os.str() ==
        "online:  5 cpu0-3,6\n"
        "offline: 3 cpu4-5,7\n"
        "fixed:   1 cpu0 (no online file: not hotpluggable)\n");
}

TEST_CASE("cpu-add runs 10-online-cpu, then external plugins with the CPU's name", "[cpu]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {3});
  // Each external plugin notes what it saw: the name it got and the CPU's state.
  const char* note =
      "#!/bin/sh\necho \"$GUESTKIT_PLUGIN $1 $(cat "
      "\"$GUESTKIT_ROOT/sys/devices/system/cpu/$1/online\")\""
      " >> \"$GUESTKIT_ROOT/note\"\n";
  t.write("etc/guestkit/plugins.d/cpu-add/05-before", note, 0755);
  t.write("etc/guestkit/plugins.d/cpu-add/50-after", note, 0755);
  auto ctx = context(t);
  plugins::RunOptions o;
  o.args = {"cpu3"};
  auto summary = plugins::run_plugins(ctx, "cpu-add", o);
  CHECK(summary.exit_code() == 0);
  REQUIRE(summary.records.size() == 3);
  CHECK(summary.records[1].name == "10-online-cpu");
  CHECK(summary.records[1].status == plugins::RunStatus::changed);
  CHECK(t.read("note") == "05-before cpu3 0\n50-after cpu3 1\n");

  // cpu: false switches the built-in off; external plugins still run.
  TempDir u;
  FakeSysfs off(u);
  off.cpus(4, {3});
  auto ctx_off = context(u);
  ctx_off.config.cpu.enabled = false;
  u.write("etc/guestkit/plugins.d/cpu-add/50-after", note, 0755);
  auto s2 = plugins::run_plugins(ctx_off, "cpu-add", o);
  CHECK(s2.records[0].status == plugins::RunStatus::disabled);
  CHECK(s2.records[0].message == "switched off in config (cpu: false)");
  CHECK(u.read("note") == "50-after cpu3 0\n");
  CHECK(off.cpu_online(3) == "0\n");
}
