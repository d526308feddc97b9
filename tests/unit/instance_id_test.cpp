// The instance id: one function (core::find_instance_id), one order, placeholders
// refused; and every caller (the agent, 04-reset-identity, 03-randomize-cron) agrees
// on the same tree.

#include "core/instance_id.hpp"

#include <catch2/catch.hpp>

#include "agent/state.hpp"
#include "core/files.hpp"
#include "plugins/boot/randomize_cron.hpp"
#include "tests/unit/boot_fixture.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
using guestkit::test::run_one;
using guestkit::test::TempDir;

namespace {

std::string id_of(const TempDir& t) {
  const auto id = core::find_instance_id(t.root());
  return id ? id->value : "";
}

// What each caller takes for this VM's id on tree `t`: the agent's greeting, the id
// 04-reset-identity records (or "" when it skips), and whether 03-randomize-cron
// spread /etc/crontab with that very id.
struct Views {
  std::string agent, recorded;
  bool cron_uses_it = false;
};

Views callers(TempDir& t, const std::string& expected) {
  Views v;
  v.agent = guestkit::agent::read_instance_id(t.root());
  core::Context ctx(t.root(), core::Config{});
  const auto identity = run_one(ctx, "bootstrap", "04-reset-identity");
  INFO(identity.message);
  CHECK(identity.status != gp::RunStatus::failed);
  if (std::filesystem::exists(t.path() / "var/lib/guestkit/instance-id"))
    v.recorded = t.read("var/lib/guestkit/instance-id");
  if (!v.recorded.empty() && v.recorded.back() == '\n') v.recorded.pop_back();
  const std::string crontab =
      "17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
      "25 6\t* * *\troot\tcd / && run-parts --report /etc/cron.daily\n";
  t.write("etc/crontab", crontab);
  auto want = core::split_lines(crontab);
  guestkit::plugins::boot::spread_crontab(want, expected);
  const auto cron = run_one(ctx, "config", "03-randomize-cron");
  INFO(cron.message);
  v.cron_uses_it = core::split_lines(t.read("etc/crontab")) == want;
  return v;
}

}  // namespace

TEST_CASE("instance id: one order, placeholders refused", "[instance-id]") {
  TempDir t;
  CHECK_FALSE(core::find_instance_id(t.root()));
  t.write("etc/machine-id", "uninitialized\n");  // systemd's first boot
  CHECK_FALSE(core::find_instance_id(t.root()));
  t.write("etc/machine-id", "00000000000000000000000000000000\n");
  CHECK_FALSE(core::find_instance_id(t.root()));
  t.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  CHECK(id_of(t) == "0123456789abcdef0123456789abcdef");
  CHECK(core::find_instance_id(t.root())->source == core::InstanceIdSource::machine_id);
  for (const char* placeholder :
       {"00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009"}) {
    t.write("sys/class/dmi/id/product_uuid", std::string(placeholder) + "\n");
    CHECK(id_of(t) == "0123456789abcdef0123456789abcdef");
  }
  t.write("sys/class/dmi/id/product_uuid", "4C4C4544-0035-3010-8030-B3C04F4E4D32\n");
  CHECK(id_of(t) == "4c4c4544-0035-3010-8030-b3c04f4e4d32");
  CHECK(core::find_instance_id(t.root())->source == core::InstanceIdSource::dmi);
  t.write("proc/cmdline", "ro guestkit.instance_id=00000000-0000-0000-0000-000000000000\n");
  CHECK(id_of(t) == "4c4c4544-0035-3010-8030-b3c04f4e4d32");
  t.write("proc/cmdline", "ro guestkit.instance_id=vm-kernel guestkit.instance_id=vm-last\n");
  CHECK(id_of(t) == "vm-last");
  CHECK(core::find_instance_id(t.root())->source == core::InstanceIdSource::kernel);
  t.write("etc/guestkit/instance-id", "../../etc\n");  // not an id: the next source
  CHECK(id_of(t) == "vm-last");
  t.write("etc/guestkit/instance-id", "  vm-platform-7 \n");
  CHECK(id_of(t) == "vm-platform-7");
  CHECK(core::find_instance_id(t.root())->source == core::InstanceIdSource::file);
}

TEST_CASE("instance id: the agent, 04-reset-identity and 03-randomize-cron agree",
          "[instance-id]") {
  SECTION("platform file, kernel argument and UUID: the file") {
    TempDir t;
    t.write("etc/guestkit/instance-id", "vm-platform-7\n");
    t.write("proc/cmdline", "ro guestkit.instance_id=vm-kernel\n");
    t.write("sys/class/dmi/id/product_uuid", "4C4C4544-0035-3010-8030-B3C04F4E4D32\n");
    t.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    const auto v = callers(t, "vm-platform-7");
    CHECK(v.agent == "vm-platform-7");
    CHECK(v.recorded == "vm-platform-7");
    CHECK(v.cron_uses_it);
  }
  SECTION("kernel argument and UUID: the kernel argument") {
    TempDir t;
    t.write("proc/cmdline", "ro guestkit.instance_id=vm-kernel\n");
    t.write("sys/class/dmi/id/product_uuid", "4C4C4544-0035-3010-8030-B3C04F4E4D32\n");
    const auto v = callers(t, "vm-kernel");
    CHECK(v.agent == "vm-kernel");
    CHECK(v.recorded == "vm-kernel");
    CHECK(v.cron_uses_it);
  }
  SECTION("a zero UUID: never the shared placeholder") {
    TempDir t;
    t.write("sys/class/dmi/id/product_uuid", "00000000-0000-0000-0000-000000000000\n");
    t.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    const auto v = callers(t, "0123456789abcdef0123456789abcdef");
    CHECK(v.agent == "0123456789abcdef0123456789abcdef");
    // machine-id cannot reveal a clone (a clone copies it): nothing recorded.
    CHECK(v.recorded.empty());
    CHECK(v.cron_uses_it);
  }
}
