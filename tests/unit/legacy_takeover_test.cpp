// Taking over from gandi-hosting-vm2 (issue 20): its hooks (GANDI_HOOK_DIR, guestkit's
// copy, no #! line) and its customer plugins in /etc/gandi/plugins.d keep running, and
// `guestkit-boot --list` says what the legacy flags switched off.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/context.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/external.hpp"
#include "plugins/runner.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
using guestkit::test::TempDir;
using Lines = std::vector<std::string>;

namespace {

// A hook as gandi-hosting-vm2 shipped its templates: no #! line, run by a shell.
const char* const kNoShebang = "echo \"$GUESTKIT_HOOK $* from TAG\" >> \"$GUESTKIT_ROOT/calls\"\n";

void add_hook(const TempDir& t, const std::string& rel, const std::string& tag,
              bool shebang = false) {
  std::string body = kNoShebang;
  body.replace(body.find("TAG"), 3, tag);
  t.write(rel, (shebang ? "#!/bin/sh\n" : "") + body, 0750);
}

std::string read_host(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct LogToFile {
  explicit LogToFile(const std::filesystem::path& file) {
    core::log_setup({"guestkit-test", core::LogSink::file, core::Level::info, file.string()});
  }
  ~LogToFile() {
    core::log_setup({"guestkit", core::LogSink::stderr_stream, core::Level::warning});
  }
};

const gp::PlanEntry* find(const std::vector<gp::PlanEntry>& plan, const std::string& name) {
  for (const auto& e : plan)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("takeover: hooks are looked up in hooks_dir then GANDI_HOOK_DIR then guestkit's copy",
          "[takeover][hooks]") {
  TempDir t;
  core::Config config;
  config.legacy_hooks_dir = "/etc/gandi/hooks";
  CHECK(gp::hook_dirs(config) ==
        Lines{"/etc/guestkit/hooks", "/etc/gandi/hooks", core::paths::kLegacyHooksCopy});
  core::Context ctx(t.root(), config);

  SECTION("only in the old directory") {
    add_hook(t, "etc/gandi/hooks/post-vm-config", "old", true);
    add_hook(t, "etc/guestkit/legacy/hooks/post-vm-config", "copy", true);
    CHECK(gp::find_hook(t.root(), config, "post-vm-config") == "/etc/gandi/hooks/post-vm-config");
    auto ran = gp::run_hook(ctx, "post-vm-config", {});
    REQUIRE(ran);
    CHECK(*ran);
    CHECK(t.read("calls") == "post-vm-config  from old\n");
  }
  SECTION("guestkit's own directory wins") {
    add_hook(t, "etc/guestkit/hooks/post-vm-config", "new", true);
    add_hook(t, "etc/gandi/hooks/post-vm-config", "old", true);
    REQUIRE(gp::run_hook(ctx, "post-vm-config", {}));
    CHECK(t.read("calls") == "post-vm-config  from new\n");
  }
  SECTION("after a purge of the old package: the copy") {
    add_hook(t, "etc/guestkit/legacy/hooks/post-disk-attach", "copy", true);
    auto ran = gp::run_hook(ctx, "post-disk-attach", {"/dev/vdb", "ext4", "/srv/data"});
    REQUIRE(ran);
    CHECK(*ran);
    CHECK(t.read("calls") == "post-disk-attach /dev/vdb ext4 /srv/data from copy\n");
  }
  SECTION("a mask in hooks_dir hides the old hook") {
    add_hook(t, "etc/gandi/hooks/post-vm-config", "old", true);
    std::filesystem::create_directories(t.path() / "etc/guestkit/hooks");
    std::filesystem::create_symlink("/dev/null", t.path() / "etc/guestkit/hooks/post-vm-config");
    CHECK(gp::find_hook(t.root(), config, "post-vm-config").empty());
    auto ran = gp::run_hook(ctx, "post-vm-config", {});
    REQUIRE(ran);
    CHECK_FALSE(*ran);
    CHECK_FALSE(std::filesystem::exists(t.path() / "calls"));
  }
  SECTION("GANDI_HOOK_DIR elsewhere") {
    t.write("etc/default/gandi", "GANDI_HOOK_DIR=/opt/myhooks/\n");
    add_hook(t, "opt/myhooks/post-vm-config", "mine", true);
    auto loaded = core::load_config(t.root());
    REQUIRE(loaded);
    core::Context with_legacy(t.root(), *loaded);
    REQUIRE(gp::run_hook(with_legacy, "post-vm-config", {}));
    CHECK(t.read("calls") == "post-vm-config  from mine\n");
  }
  SECTION("none anywhere") {
    auto ran = gp::run_hook(ctx, "post-vm-config", {});
    REQUIRE(ran);
    CHECK_FALSE(*ran);
  }
}

// Without the /bin/sh fallback the exec fails with ENOEXEC ("Exec format error").
TEST_CASE("takeover: a hook without #! runs through /bin/sh and the log says so",
          "[takeover][hooks]") {
  TempDir t;
  add_hook(t, "etc/gandi/hooks/post-disk-attach", "old");
  CHECK(gp::needs_shell(gp::open_executable(t.root(), "/etc/gandi/hooks/post-disk-attach")));
  add_hook(t, "etc/gandi/hooks/with-shebang", "x", true);
  CHECK_FALSE(gp::needs_shell(gp::open_executable(t.root(), "/etc/gandi/hooks/with-shebang")));
  core::Context ctx(t.root(), core::Config{});
  const auto log = t.path() / "log";
  {
    LogToFile capture(log);
    auto ran = gp::run_hook(ctx, "post-disk-attach", {"/dev/vdb", "ext4", "/srv/data"});
    INFO((ran ? "" : ran.error().message()));
    REQUIRE(ran);
    CHECK(*ran);
  }
  CHECK(t.read("calls") == "post-disk-attach /dev/vdb ext4 /srv/data from old\n");
  CHECK(read_host(log).find("hook " + t.root().display("/etc/gandi/hooks/post-disk-attach") +
                            ": no #! line, running it with /bin/sh") != std::string::npos);

  SECTION("dry run shows the shell") {
    std::filesystem::remove(t.path() / "calls");
    ctx.dry_run = true;
    REQUIRE(gp::run_hook(ctx, "post-disk-attach", {"/dev/vdb"}));
    CHECK_FALSE(std::filesystem::exists(t.path() / "calls"));
  }
  SECTION("a hook still has to be executable, as the old scripts required") {
    std::filesystem::permissions(t.path() / "etc/gandi/hooks/post-disk-attach",
                                 std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::remove);
    CHECK_FALSE(gp::run_hook(ctx, "post-disk-attach", {}));
  }
}

TEST_CASE("takeover: /etc/gandi/plugins.d customer plugins run in the config stage",
          "[takeover][runner]") {
  TempDir t;
  t.write("etc/gandi/plugins.d/50-customer",
          "#!/bin/sh\necho \"customer $GUESTKIT_TRIGGER\" >> \"$GUESTKIT_ROOT/calls\"\n", 0750);
  // What the removed old package left: its own plugins are conffiles.
  t.write("etc/gandi/plugins.d/13-config_motd", "#!/bin/sh\necho old >> \"$GUESTKIT_ROOT/calls\"\n",
          0750);
  t.write("etc/gandi/plugins.d/11-config_ssh", "#!/bin/sh\necho old >> \"$GUESTKIT_ROOT/calls\"\n",
          0750);
  core::Context ctx(t.root(), core::Config{});
  auto plan = gp::plan_plugins(ctx, "config", {});
  REQUIRE(plan);
  const auto* customer = find(*plan, "50-customer");
  REQUIRE(customer);
  CHECK(customer->source == gp::Source::legacy);
  CHECK(customer->enabled);
  const auto* old = find(*plan, "13-config_motd");
  REQUIRE(old);
  CHECK_FALSE(old->enabled);
  CHECK(old->why_disabled == "gandi-hosting-vm2's own plugin, guestkit's built-ins do its job");
  // Not in the other stages.
  CHECK(gp::plan_plugins(ctx, "bootstrap", {})->empty());
  CHECK(gp::plan_plugins(ctx, "postboot", {})->empty());

  gp::RunOptions o;
  o.builtins = {};
  o.record = false;
  auto summary = gp::run_plugins(ctx, "config", o);
  CHECK(t.read("calls") == "customer config\n");
  CHECK(summary.exit_code() == core::kExitOk);

  SECTION("/etc/guestkit/plugins.d/config wins on an equal name") {
    std::filesystem::create_directories(t.path() / "etc/guestkit/plugins.d/config");
    std::filesystem::create_symlink("/dev/null",
                                    t.path() / "etc/guestkit/plugins.d/config/50-customer");
    auto masked = gp::plan_plugins(ctx, "config", {});
    REQUIRE(masked);
    CHECK_FALSE(find(*masked, "50-customer")->enabled);
  }
}

// What `guestkit-boot --list` prints for the customer's flags with the shipped
// guestkit.yml installed (problem 7 of issue 20: "enabled" while switched off).
TEST_CASE("takeover: --list shows the plugins the legacy flags switch off as disabled",
          "[takeover][runner]") {
  TempDir t;
  t.write("etc/guestkit/guestkit.yml",
          read_host(std::string(GUESTKIT_SOURCE_DIR) + "/config/guestkit.yml"));
  t.write("etc/default/gandi", "CONFIG_MOTD=0\nCONFIG_TIMEZONE=0\nCONFIG_CRON=0\n");
  auto config = core::load_config(t.root());
  REQUIRE(config);
  core::Context ctx(t.root(), *config);
  auto plan = gp::plan_plugins(ctx, "config");
  REQUIRE(plan);
  std::ostringstream out;
  gp::print_plan(out, "config", *plan);
  INFO(out.str());
  for (const auto& [name, feature] :
       std::vector<std::pair<std::string, std::string>>{{"13-set-motd", "motd"},
                                                        {"07-set-timezone", "timezone"},
                                                        {"03-randomize-cron", "cron"}}) {
    const auto* e = find(*plan, name);
    REQUIRE(e);
    CHECK_FALSE(e->enabled);
    CHECK(out.str().find(name) != std::string::npos);
    CHECK(e->why_disabled == "switched off in config (" + feature + ": false)");
  }
  CHECK(find(*plan, "11-config-ssh")->enabled);
}
