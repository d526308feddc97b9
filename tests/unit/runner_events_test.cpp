// The runner runs the events a plugin asks for (a boot coldplug's per-device runs)
// right after it, and keys every run record by trigger and object, so runs for two
// devices, sequential or at once, keep a record each.

#include <catch2/catch.hpp>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/cli.hpp"
#include "plugins/runner.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
namespace fs = std::filesystem;
using guestkit::test::TempDir;
using nlohmann::json;

namespace {

std::vector<std::string> g_ran;      // what the test plugins did, in order
std::vector<gp::EventRun> g_events;  // what 10-coldplug asks the runner for

core::Result<gp::Outcome> coldplug(gp::PluginContext& p) {
  g_ran.push_back("10-coldplug");
  p.events = g_events;
  return gp::Outcome::skipped;  // nothing of its own: the events are the work
}
core::Result<gp::Outcome> device(gp::PluginContext& p) {
  g_ran.push_back(std::string(p.trigger) + " " + p.args.at(0));
  if (p.args.at(0).starts_with("bad")) return core::make_error(core::Errc::failed, "refused");
  return p.args.at(0).starts_with("same") ? gp::Outcome::unchanged : gp::Outcome::changed;
}
core::Result<gp::Outcome> after(gp::PluginContext&) {
  g_ran.push_back("20-after");
  return gp::Outcome::unchanged;
}

constexpr gp::BuiltinPlugin kTable[] = {
    {"10-coldplug", "mount", "", false, "finds the devices present", &coldplug},
    {"10-device", "disk-add disk-remove", "", false, "one device", &device},
    {"20-after", "mount", "", false, "the stage's next plugin", &after},
};

gp::EventRun event(const std::string& trigger, const std::string& object) {
  return {trigger, object, "disk-" + object, nullptr};
}

json record(const TempDir& t, const std::string& guest) {
  return json::parse(t.read(guest.substr(1)));
}

}  // namespace

TEST_CASE("runner: a plugin's events run right after it, before the next plugin",
          "[runner-events]") {
  TempDir t;
  core::Context ctx(t.root(), core::Config{});
  g_ran.clear();
  g_events = {event("disk-remove", "vdb"), event("disk-add", "vdb"), event("disk-add", "vdc")};
  gp::RunOptions o{.builtins = kTable};
  auto s = gp::run_plugins(ctx, "mount", o);
  CHECK(g_ran == std::vector<std::string>{"10-coldplug", "disk-remove vdb", "disk-add vdb",
                                          "disk-add vdc", "20-after"});
  CHECK(s.exit_code() == core::kExitOk);
  REQUIRE(s.records.size() == 2);  // the events are part of 10-coldplug's record
  CHECK(s.records[0].name == "10-coldplug");
  CHECK(s.records[0].status == gp::RunStatus::changed);
  // Each event was run as the hotplug event for its object: its lock, its record.
  CHECK(fs::exists(t.path() / "run/guestkit/lock/disk-vdb.lock"));
  CHECK(fs::exists(t.path() / "run/guestkit/lock/disk-vdc.lock"));
  const auto vdb = record(t, gp::record_path("disk-add", "vdb"));
  CHECK(vdb["object"] == "vdb");
  CHECK(vdb["plugins"][0]["status"] == "changed");
  CHECK(record(t, gp::record_path("disk-remove", "vdb"))["object"] == "vdb");
  CHECK(record(t, gp::record_path("disk-add", "vdc"))["object"] == "vdc");
  // The stage's own record has no object.
  CHECK_FALSE(record(t, "/run/guestkit/runs/mount.json").contains("object"));

  SECTION("events that change nothing leave the plugin unchanged, not skipped") {
    g_ran.clear();
    g_events = {event("disk-add", "same1")};
    auto again = gp::run_plugins(ctx, "mount", o);
    CHECK(again.records[0].status == gp::RunStatus::unchanged);
    g_events.clear();
    CHECK(gp::run_plugins(ctx, "mount", o).records[0].status == gp::RunStatus::skipped);
  }
}

TEST_CASE("runner: a failed event fails its plugin, and the object's later events do not run",
          "[runner-events]") {
  TempDir t;
  core::Context ctx(t.root(), core::Config{});
  g_ran.clear();
  // The coldplug pattern: a vanished disk's record removed, then the new device with
  // its name added. When the remove fails, the add must not run over the old mount.
  g_events = {event("disk-remove", "bad1"), event("disk-add", "bad1"), event("disk-add", "vdc"),
              event("disk-add", "bad2")};
  gp::RunOptions o{.builtins = kTable};
  auto s = gp::run_plugins(ctx, "mount", o);
  CHECK(g_ran == std::vector<std::string>{"10-coldplug", "disk-remove bad1", "disk-add vdc",
                                          "disk-add bad2", "20-after"});
  REQUIRE(s.records.size() == 2);
  CHECK(s.records[0].status == gp::RunStatus::failed);
  CHECK(s.records[0].message == "disk-remove failed for bad1; disk-add failed for bad2");
  CHECK(s.exit_code() == core::kExitPartial);  // 10-coldplug is not critical
  CHECK_FALSE(fs::exists(t.path() / gp::record_path("disk-add", "bad1").substr(1)));

  // The helpers' --coldplug runs the same list the same way.
  g_ran.clear();
  auto results = gp::run_events(ctx, g_events, kTable);
  REQUIRE(results.size() == 4);
  CHECK_FALSE(results[1].summary);
  CHECK(gp::events_exit_code(results) == core::kExitPartial);
  CHECK(g_ran == std::vector<std::string>{"disk-remove bad1", "disk-add vdc", "disk-add bad2"});
}

TEST_CASE("runner: two devices' runs of one trigger keep a record each", "[runner-events]") {
  TempDir t;
  core::Context ctx(t.root(), core::Config{});
  for (const std::string name : {"vdb", "vdc"}) {
    gp::RunOptions o{.builtins = kTable};
    o.args = {name};
    o.lock = "disk-" + name;
    o.object = name;
    REQUIRE(gp::run_plugins(ctx, "disk-add", o).exit_code() == core::kExitOk);
  }
  // One record per device, each naming it (one shared runs/disk-add.json kept only
  // the last device's).
  CHECK(record(t, "/run/guestkit/runs/disk-add/vdb.json")["object"] == "vdb");
  CHECK(record(t, "/run/guestkit/runs/disk-add/vdc.json")["object"] == "vdc");
  CHECK(gp::record_paths(t.root(), "disk-add") ==
        std::vector<std::string>{"/run/guestkit/runs/disk-add/vdb.json",
                                 "/run/guestkit/runs/disk-add/vdc.json"});
  // A record from before (one file for every device) is still listed, last.
  t.write("run/guestkit/runs/disk-add.json", "{}\n");
  CHECK(gp::record_paths(t.root(), "disk-add").back() == "/run/guestkit/runs/disk-add.json");
}

TEST_CASE("runner: two events at once, for two devices, keep a record each", "[runner-events]") {
  TempDir t;
  // Each run waits inside its plugin until the other is inside its own too, so both
  // records are written by runs that overlapped, as two udev events' helpers do.
  static std::mutex m;
  static std::condition_variable cv;
  static int inside = 0;
  inside = 0;
  static constexpr gp::BuiltinPlugin kMeet[] = {
      {"10-meet", "disk-add", "", false, "waits for the other run",
       +[](gp::PluginContext&) -> core::Result<gp::Outcome> {
         std::unique_lock lock(m);
         ++inside;
         cv.notify_all();
         // The bound only keeps a broken runner (one that serialised the runs) from
         // hanging the suite; the check below fails then.
         if (!cv.wait_for(lock, std::chrono::seconds(30), [] { return inside >= 2; }))
           return core::make_error(core::Errc::failed, "the other run never came");
         return gp::Outcome::changed;
       }},
  };
  std::vector<gp::RunSummary> summaries(2);
  std::vector<std::thread> threads;
  const std::string names[] = {"vdb", "vdc"};
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      core::Context ctx(t.root(), core::Config{});
      gp::RunOptions o{.builtins = kMeet};
      o.args = {names[i]};
      o.lock = "disk-" + names[i];
      o.object = names[i];
      summaries[i] = gp::run_plugins(ctx, "disk-add", o);
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < 2; ++i) {
    INFO(names[i]);
    CHECK(summaries[i].exit_code() == core::kExitOk);
    const auto r = record(t, gp::record_path("disk-add", names[i]));
    CHECK(r["object"] == names[i]);
    CHECK(r["plugins"][0]["status"] == "changed");
  }
}

TEST_CASE("runner: record keys are safe file names, one per object", "[runner-events]") {
  CHECK(gp::record_key("vdb1") == "vdb1");
  CHECK(gp::record_key("eth0.100") == "eth0.100");
  CHECK(gp::record_key("cpu3") == "cpu3");
  CHECK(gp::record_key("..") == "%2E.");
  CHECK(gp::record_key(".") == "%2E");
  CHECK(gp::record_key(".hidden") == "%2Ehidden");
  CHECK(gp::record_key("a/b") == "a%2Fb");
  CHECK(gp::record_key("../../etc/passwd") == "%2E.%2F..%2Fetc%2Fpasswd");
  CHECK(gp::record_key("a b\n\xff") == "a%20b%0A%FF");
  // '%' is escaped too, so an escaped name never collides with a plain one.
  CHECK(gp::record_key("a%2Fb") == "a%252Fb");
  CHECK(gp::record_path("disk-add", "vdb") == "/run/guestkit/runs/disk-add/vdb.json");
  CHECK(gp::record_path("provision", "") == "/run/guestkit/runs/provision.json");
}
