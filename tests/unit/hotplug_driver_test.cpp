// The shared hotplug driver: event -> trigger -> plugins, under a per-object lock.

#include <catch2/catch.hpp>
#include <filesystem>

#include "hotplug/driver.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace hp = guestkit::hotplug;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

hp::HotplugSpec cpu_spec() {
  hp::HotplugSpec s;
  s.tool.name = "guestkit-test";
  s.subsystem = "cpu";
  s.lock_prefix = "cpu";
  s.triggers = {{"add", "cpu-add"}};
  return s;
}

}  // namespace

TEST_CASE("check_kernel_name keeps device names and refuses path games", "[hotplug]") {
  CHECK(*hp::check_kernel_name("vdb1") == "vdb1");
  CHECK(*hp::check_kernel_name("/dev/nvme0n1p2") == "nvme0n1p2");
  CHECK(*hp::check_kernel_name("cpu3") == "cpu3");
  CHECK(*hp::check_kernel_name("dm-0") == "dm-0");
  for (const char* bad : {"", "../x", "/dev/../etc", "a/b", ".hidden", "-rf", "vd b", "x\n",
                          "/dev/", "/etc/passwd"}) {
    INFO(bad);
    auto r = hp::check_kernel_name(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::Errc::bad_input);
  }
  CHECK_FALSE(hp::check_kernel_name(std::string(65, 'a')));
}

TEST_CASE("an event runs its trigger's plugins with the name, under the object's lock", "[hotplug]") {
  TempDir t;
  t.write("etc/guestkit/plugins.d/cpu-add/50-note",
          "#!/bin/sh\necho \"$GUESTKIT_TRIGGER $1 $ACTION\" > \"$GUESTKIT_ROOT/note\"\n", 0755);
  core::Context ctx(t.root(), core::Config{});
  auto spec = cpu_spec();
  CHECK(hp::handle_event(ctx, spec, {"add", "cpu3", {{"ACTION", "add"}}}) == core::kExitOk);
  CHECK(t.read("note") == "cpu-add cpu3 add\n");
  CHECK(fs::exists(t.path() / "run/guestkit/lock/cpu-cpu3.lock"));
}

TEST_CASE("an action without a trigger does nothing and succeeds", "[hotplug]") {
  TempDir t;
  t.write("etc/guestkit/plugins.d/cpu-add/50-note", "#!/bin/sh\ntouch \"$GUESTKIT_ROOT/ran\"\n", 0755);
  core::Context ctx(t.root(), core::Config{});
  CHECK(hp::handle_event(ctx, cpu_spec(), {"remove", "cpu3", {}}) == core::kExitOk);
  CHECK_FALSE(fs::exists(t.path() / "ran"));
  CHECK_FALSE(fs::exists(t.path() / "run"));
}
