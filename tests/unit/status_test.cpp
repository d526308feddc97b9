// status (the agent op and `guestkit status`) on a fake root: boot records, a disk
// record, an interface state, fake CPUs and memory; the exit code --wait gives.

#include "plugins/status/status.hpp"

#include <catch2/catch.hpp>

#include "plugins/disk/records.hpp"
#include "plugins/runner.hpp"
#include "tests/fake_sysfs.hpp"
#include "tests/status_fixture.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace plugins = guestkit::plugins;
namespace status = guestkit::plugins::status;
using guestkit::test::FakeSysfs;
using guestkit::test::kMiB;
using guestkit::test::TempDir;
using guestkit::test::write_stage_record;
using nlohmann::json;

TEST_CASE("status gathers boot, disks, interfaces, CPUs and memory with since-when", "[status]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {3});
  sys.memory(8, 128 * kMiB, {6, 7});
  const core::Context ctx(t.root(), core::Config{});

  auto s = status::collect(ctx, "vm-1");
  INFO(s.dump(2));
  CHECK(s["boot"]["state"] == "pending");
  CHECK(status::boot_exit_code(s) == 1);
  CHECK_FALSE(status::boot_done(s));
  CHECK(s["provisioned"] == false);
  CHECK_FALSE(s.contains("provisioned_since"));

  write_stage_record(t, "bootstrap", plugins::RunStatus::unchanged, 1000);
  write_stage_record(t, "mount", plugins::RunStatus::changed, 1001);
  s = status::collect(ctx, "vm-1");
  CHECK(s["boot"]["state"] == "running");
  CHECK(s["boot"]["stages"]["config"]["state"] == "pending");
  CHECK(status::boot_exit_code(s) == 1);

  write_stage_record(t, "config", plugins::RunStatus::unchanged, 1002);
  write_stage_record(t, "postboot", plugins::RunStatus::unchanged, 1003);
  guestkit::plugins::disk::DiskRecord rec;
  rec.name = "vdb";
  rec.devname = "/dev/vdb";
  rec.devno = "254:16";
  rec.fstype = "ext4";
  rec.label = "data";
  rec.mountpoint = "/srv/data";
  rec.since = 1234;
  REQUIRE(guestkit::plugins::disk::write_record(t.root(), rec));
  t.write("run/guestkit/iface/eth1.state", "BACKEND=networkd\nDHCP=networkd\nATTACHED=yes\n");
  t.write("var/lib/guestkit/provisioned/vm-1", "{}\n");

  s = status::collect(ctx, "vm-1");
  INFO(s.dump(2));
  CHECK(s["boot"]["state"] == "done");
  CHECK(status::boot_done(s));
  CHECK(status::boot_exit_code(s) == 0);
  CHECK(s["boot"]["stages"]["postboot"]["started"] == 1003);
  CHECK(s["provisioned"] == true);
  CHECK(s["provisioned_since"].get<std::int64_t>() > 0);
  REQUIRE(s["disks"].size() == 1);
  CHECK(s["disks"][0]["mountpoint"] == "/srv/data");
  CHECK(s["disks"][0]["since"] == 1234);
  REQUIRE(s["interfaces"].size() == 1);
  CHECK(s["interfaces"][0]["name"] == "eth1");
  CHECK(s["interfaces"][0]["dhcp"] == "networkd");
  CHECK(s["interfaces"][0]["since"].get<std::int64_t>() > 0);
  CHECK(s["cpus"]["online"] == "cpu0-2");
  CHECK(s["cpus"]["offline"] == "cpu3");
  CHECK(s["memory"]["online"] == "memory0-5");
  CHECK(s["memory"]["offline"] == "memory6-7");
  CHECK(s["memory"]["online_bytes"] == 6 * 128 * kMiB);
  // since: the boot's mount stage (coldplug) until a hotplug event or prepare-unplug.
  CHECK(s["memory"]["since"] == s["boot"]["stages"]["mount"]["finished"]);

  SECTION("a failed plugin in a critical spot fails the boot; a non-critical one is partial") {
    write_stage_record(t, "config", plugins::RunStatus::failed, 1002);
    s = status::collect(ctx, "vm-1");
    CHECK(s["boot"]["stages"]["config"]["state"] == "failed");
    CHECK(s["boot"]["stages"]["config"]["failed"] == json::array({"20-b"}));
    CHECK(status::boot_exit_code(s) == 2);
  }
  SECTION("the last prepare-unplug is the memory's since") {
    status::record_op(t.root(), status::kPrepareUnplugRecord, {{"state", "ready"}});
    s = status::collect(ctx, "vm-1");
    CHECK(s["last_prepare"]["unplug"]["state"] == "ready");
    CHECK(s["memory"]["since"] == s["last_prepare"]["unplug"]["at"]);
  }
}

TEST_CASE("status: the CPUs' since is the last of every CPU's record, old single file too",
          "[status]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {3});
  sys.memory(8, 128 * kMiB, {6, 7});
  const core::Context ctx(t.root(), core::Config{});
  write_stage_record(t, "mount", plugins::RunStatus::changed, 1001);
  const auto mount = status::collect(ctx, "vm-1")["boot"]["stages"]["mount"]["finished"];
  const std::int64_t later = mount.get<std::int64_t>() + 100;
  // Two CPUs' events, each with its own record: the later one counts, whichever
  // directory entry comes first.
  t.write("run/guestkit/runs/cpu-add/cpu2.json", json{{"finished", later + 20}}.dump());
  t.write("run/guestkit/runs/cpu-add/cpu3.json", json{{"finished", later}}.dump());
  auto s = status::collect(ctx, "vm-1");
  CHECK(s["cpus"]["since"] == later + 20);
  CHECK(s["memory"]["since"] == mount);  // no memory event: the boot's coldplug
  // 0.1.0's one record for every CPU (left in /run by an upgrade) is still read.
  t.write("run/guestkit/runs/cpu-add.json", json{{"finished", later + 50}}.dump());
  CHECK(status::collect(ctx, "vm-1")["cpus"]["since"] == later + 50);
  // A temp file of an atomic write in progress is no record.
  t.write("run/guestkit/runs/cpu-add/.cpu1.json.gk-0123456789abcdef",
          json{{"finished", later + 90}}.dump());
  CHECK(status::collect(ctx, "vm-1")["cpus"]["since"] == later + 50);
}
