// guestkit-cpu and guestkit-memory as udev and admins run them: the real binaries on
// fake sysfs trees (never the host's /sys), and a tree captured from a real machine.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "core/exec.hpp"
#include "tests/fake_sysfs.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::FakeSysfs;
using guestkit::test::kMiB;
using guestkit::test::TempDir;

namespace {

using Env = std::map<std::string, std::string>;

core::ExecResult run(std::string_view subdir, std::string_view tool, std::vector<std::string> args,
                     const Env& env = {}) {
  args.insert(args.begin(), guestkit::test::built_binary(subdir, tool).string());
  core::ExecOptions o;
  o.timeout = std::chrono::seconds(60);
  o.env = env;
  auto r = core::run(args, o);
  REQUIRE(r);
  return std::move(r).value();
}

core::ExecResult cpu(std::vector<std::string> args, const Env& env = {}) {
  return run("hotplug", "guestkit-cpu", std::move(args), env);
}
core::ExecResult memory(std::vector<std::string> args, const Env& env = {}) {
  return run("hotplug", "guestkit-memory", std::move(args), env);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Every path and its content: to prove a run changed nothing.
std::set<std::string> snapshot(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string line = fs::relative(e.path(), dir).string();
    if (e.is_regular_file()) {
      std::ifstream in(e.path());
      line += " = " + std::string(std::istreambuf_iterator<char>(in), {});
    }
    out.insert(line);
  }
  return out;
}

}  // namespace

TEST_CASE("guestkit-cpu run by udev onlines the CPU of the event", "[cpu-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {2, 3});
  const Env udev{{"ACTION", "add"},
                 {"SUBSYSTEM", "cpu"},
                 {"DEVPATH", "/devices/system/cpu/cpu2"},
                 {"SEQNUM", "4711"}};
  auto r = cpu({"--root", t.path().string(), "--log-stderr"}, udev);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(sys.cpu_online(2) == "1");
  CHECK(sys.cpu_online(3) == "0\n");
  CHECK(has(r.err, "guestkit-cpu: cpu2: online\n"));
  CHECK(has(r.err, "guestkit-cpu: 10-online-cpu: changed ("));
  CHECK(fs::exists(t.path() / "run/guestkit/lock/cpu-cpu2.lock"));
  CHECK(fs::exists(t.path() / "run/guestkit/runs/cpu-add/cpu2.json"));

  // Events that are not ours, or need nothing, change nothing and succeed.
  for (const Env& other :
       {Env{{"ACTION", "add"},
            {"SUBSYSTEM", "memory"},
            {"DEVPATH", "/devices/system/memory/memory3"}},
        Env{{"ACTION", "remove"}, {"SUBSYSTEM", "cpu"}, {"DEVPATH", "/devices/system/cpu/cpu3"}},
        Env{{"ACTION", "offline"},
            {"SUBSYSTEM", "cpu"},
            {"DEVPATH", "/devices/system/cpu/cpu3"}}}) {
    INFO(other.at("ACTION") + " " + other.at("SUBSYSTEM"));
    CHECK(cpu({"--root", t.path().string()}, other).exit_code == 0);
    CHECK(sys.cpu_online(3) == "0\n");
  }
}

TEST_CASE("guestkit-cpu refuses bad names and usage", "[cpu-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {3});
  const std::string root = t.path().string();
  auto escape = cpu({"--root", root, "add", "cpu3/../.."});
  CHECK(escape.exit_code == 64);
  CHECK(has(escape.err, "guestkit-cpu: invalid CPU name 'cpu3/../..' (expected cpuN)"));
  CHECK(cpu({"--root", root, "add", "memory3"}).exit_code == 64);
  CHECK(cpu({"--root", root, "add", "cpu03"}).exit_code == 64);
  CHECK(has(cpu({"--root", root, "remove", "cpu3"}).err, "unknown action 'remove' (add)"));
  CHECK(cpu({"--root", root, "add"}).exit_code == 64);
  CHECK(cpu({"--root", root, "--status", "add", "cpu3"}).exit_code == 64);
  // From udev: a DEVPATH that climbs is refused before anything runs.
  auto climb = cpu({"--root", root}, {{"ACTION", "add"},
                                      {"SUBSYSTEM", "cpu"},
                                      {"DEVPATH", "/devices/system/cpu/cpu3/../../../x"}});
  CHECK(climb.exit_code == 64);
  CHECK(sys.cpu_online(3) == "0\n");
  auto help = cpu({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.rfind("Usage: guestkit-cpu [OPTION]... [add cpuN | --coldplug | --status]\n", 0) ==
        0);
  CHECK(has(help.out, "--coldplug"));
}

TEST_CASE("guestkit-cpu --coldplug and --status, and cpu: false turns them off", "[cpu-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(8, {3, 5, 6});
  const std::string root = t.path().string();
  auto st = cpu({"--root", root, "--status"});
  CHECK(st.exit_code == 0);
  CHECK(st.out ==
        "online:  5 cpu0-2,4,7\noffline: 3 cpu3,5-6\nfixed:   1 cpu0 (no online file: not "
        "hotpluggable)\n");

  t.write("etc/guestkit/guestkit.yml", "cpu: false\n");
  auto off = cpu({"--root", root, "--log-stderr", "--coldplug"});
  CHECK(off.exit_code == 0);
  CHECK(has(off.err, "switched off in config (cpu: false), nothing to do"));
  CHECK(cpu({"--root", root, "add", "cpu3"}).exit_code == 0);
  CHECK(sys.cpu_online(3) == "0\n");

  fs::remove(t.path() / "etc/guestkit/guestkit.yml");
  auto on = cpu({"--root", root, "--log-stderr", "--coldplug"});
  CHECK(on.exit_code == 0);
  CHECK(
      has(on.err, "coldplug: 3 of 7 cpus brought online (cpu3,5-6), 4 already online, 0 failed ("));
  CHECK(cpu({"--root", root, "--status"}).out ==
        "online:  8 cpu0-7\noffline: 0 -\nfixed:   1 cpu0 (no online file: not hotpluggable)\n");
}

TEST_CASE("guestkit-memory run by udev onlines the block, then external plugins run",
          "[memory-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(8, 128 * kMiB, {5, 6});
  t.write("etc/guestkit/plugins.d/memory-add/50-note",
          "#!/bin/sh\necho \"$1 $(cat \"$GUESTKIT_ROOT/sys/devices/system/memory/$1/state\")\""
          " >> \"$GUESTKIT_ROOT/note\"\n",
          0755);
  auto r = memory(
      {"--root", t.path().string(), "--log-stderr"},
      {{"ACTION", "add"}, {"SUBSYSTEM", "memory"}, {"DEVPATH", "/devices/system/memory/memory5"}});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(sys.block_state(5) == "online_movable");
  CHECK(sys.block_state(6) == "offline\n");
  CHECK(t.read("note") == "memory5 online_movable\n");
  CHECK(has(r.err,
            "guestkit-memory: memory5: online_movable (auto: movable 0 B + 128 MiB <= 3 x kernel "
            "768 MiB)\n"));
  auto bad = memory({"--root", t.path().string(), "add", "memory5/../memory6"});
  CHECK(bad.exit_code == 64);
  CHECK(has(bad.err, "invalid memory block name 'memory5/../memory6' (expected memoryN)"));
}

TEST_CASE("guestkit-memory --coldplug onlines 4096 blocks in one run, then --status", "[memory-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  std::vector<unsigned> offline;
  for (unsigned id = 32; id < 32 + 4096; ++id) offline.push_back(id);
  sys.memory(32 + 4096, 128 * kMiB, offline);
  const std::string root = t.path().string();
  auto r = memory({"--root", root, "--log-stderr", "--coldplug"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(has(r.err,
            "coldplug: 4096 of 4128 memory blocks brought online (memory32-4127), 32 already "
            "online, 0 failed ("));
  auto st = memory({"--root", root, "--status"});
  CHECK(st.exit_code == 0);
  // The zone sizes are /proc/zoneinfo's, which a fake tree does not update.
  CHECK(st.out ==
        "online:  4128 memory0-4127 (516 GiB)\n"
        "offline: 0 -\n"
        "block size: 128 MiB\n"
        "kernel auto-online: offline\n"
        "policy: auto (movable_ratio 3)\n"
        "zones: kernel 4 GiB, movable 0 B\n");
}

TEST_CASE("guestkit-memory and guestkit-cpu --dry-run change nothing", "[memory-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(6, 128 * kMiB, {4, 5});
  sys.cpus(3, {1, 2});
  t.write("etc/guestkit/guestkit.yml", "memory: {online_policy: online_kernel}\n");
  const auto before = snapshot(t.path());
  auto m = memory({"--root", t.path().string(), "--dry-run", "--coldplug"});
  CHECK(m.exit_code == 0);
  CHECK(m.out ==
        "would write online_kernel to " + sys.path("/sys/devices/system/memory/memory4/state") +
            " (policy online_kernel)\n"
            "would write online_kernel to " +
            sys.path("/sys/devices/system/memory/memory5/state") + " (policy online_kernel)\n");
  auto c = cpu({"--root", t.path().string(), "--dry-run", "add", "cpu2"});
  CHECK(c.exit_code == 0);
  CHECK(c.out == "would write 1 to " + sys.path("/sys/devices/system/cpu/cpu2/online") + "\n");
  CHECK(snapshot(t.path()) == before);  // not even a lock file or a run record
}

TEST_CASE("guestkit-memory: a refusing block is logged with the reason, the rest onlined",
          "[memory-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.memory(8, 128 * kMiB, {4, 5, 6});
  auto refusing = t.write("sys/devices/system/memory/memory5/state", "offline\n", 0444);
  std::vector<std::string> args{guestkit::test::built_binary("hotplug", "guestkit-memory").string(),
                                "--root", t.path().string(), "--log-stderr", "--coldplug"};
  if (guestkit::test::running_as_root()) {
    // Root writes through 0444; without CAP_DAC_OVERRIDE it is refused like anyone.
    auto setpriv = core::find_program("setpriv");
    if (!setpriv) GUESTKIT_SKIP("setpriv (util-linux) is needed to drop CAP_DAC_OVERRIDE as root");
    args.insert(args.begin(), {*setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"});
  }
  auto r = core::run(args);
  REQUIRE(r);
  INFO(r->err);
  CHECK(r->exit_code == 1);
  CHECK(has(r->err, "guestkit-memory: warning: memory5: write online_movable to " +
                        refusing.string() + ": Permission denied, left offline\n"));
  CHECK(has(
      r->err,
      "coldplug: 2 of 8 memory blocks brought online (memory4,6), 5 already online, 1 failed ("));
  CHECK(sys.block_state(5) == "offline\n");
  CHECK(sys.block_state(4) == "online_movable");
  CHECK(sys.block_state(6) == "online_movable");
}

TEST_CASE("a sysfs tree captured from a real machine replays through --root", "[memory-cli]") {
  TempDir t;
  fs::copy(fs::path(GUESTKIT_SOURCE_DIR) / "tests/fixtures/sysfs-x86_64-2cpu-24g", t.path(),
           fs::copy_options::recursive);
  const std::string root = t.path().string();
  CHECK(cpu({"--root", root, "--status"}).out ==
        "online:  2 cpu0-1\noffline: 0 -\nfixed:   1 cpu0 (no online file: not hotpluggable)\n");
  CHECK(memory({"--root", root, "--status"}).out ==
        "online:  5 memory0-1,23,32,199 (640 MiB)\n"
        "offline: 0 -\n"
        "block size: 128 MiB\n"
        "kernel auto-online: offline\n"
        "policy: auto (movable_ratio 3)\n"
        "zones: kernel 24.0 GiB, movable 0 B\n");
  auto idle = memory({"--root", root, "--log-stderr", "--coldplug"});
  CHECK(has(idle.err,
            "coldplug: 0 of 5 memory blocks brought online (-), 5 already online, 0 failed ("));

  // The same machine with its last block and cpu1 offline, as after a hot-add.
  t.write("sys/devices/system/memory/memory199/state", "offline\n");
  t.write("sys/devices/system/memory/memory199/valid_zones", "Normal Movable\n");
  t.write("sys/devices/system/cpu/cpu1/online", "0\n");
  t.write("sys/devices/system/cpu/online", "0\n");
  auto m = memory({"--root", root, "--log-stderr", "add", "memory199"});
  CHECK(m.exit_code == 0);
  CHECK(
      has(m.err, "memory199: online_movable (auto: movable 0 B + 128 MiB <= 3 x kernel 24.0 GiB)"));
  CHECK(t.read("sys/devices/system/memory/memory199/state") == "online_movable");
  CHECK(cpu({"--root", root, "--coldplug"}).exit_code == 0);
  CHECK(t.read("sys/devices/system/cpu/cpu1/online") == "1");
}

TEST_CASE("guestkit-boot mount runs 20-coldplug-cpus and 21-coldplug-memory", "[boot-cli]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {3});
  sys.memory(6, 128 * kMiB, {5});
  const std::string root = t.path().string();
  auto list = run("plugins", "guestkit-boot", {"--root", root, "--list", "mount"});
  CHECK(list.exit_code == 0);
  CHECK(has(
      list.out,
      "  20-coldplug-cpus    built-in  enabled   brings every offline hotpluggable vCPU online\n"));
  CHECK(has(list.out,
            "  21-coldplug-memory  built-in  enabled   brings every offline memory block online"));
  auto boot = run("plugins", "guestkit-boot", {"--root", root, "--log-stderr", "mount"});
  CHECK(boot.exit_code == 0);
  CHECK(has(boot.err, "20-coldplug-cpus: changed ("));
  CHECK(has(boot.err, "21-coldplug-memory: changed ("));
  CHECK(sys.cpu_online(3) == "1");
  CHECK(sys.block_state(5) == "online_movable");

  // The stage also holds the disk and iface coldplugs: switched off here, to count.
  t.write("etc/guestkit/guestkit.yml", "memory: false\ndisk: false\niface: false\n");
  sys.block(5, "offline");
  auto off = run("plugins", "guestkit-boot", {"--root", root, "--log-stderr", "mount"});
  CHECK(off.exit_code == 0);
  CHECK(has(off.err, "mount: 4 plugins: 0 changed, 0 ran, 1 unchanged, 0 failed, 3 disabled ("));
  CHECK(sys.block_state(5) == "offline\n");
}
