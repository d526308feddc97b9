// User hooks: found by name in hooks_dir, run without a shell, refused when unsafe.

#include "plugins/hooks.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "tests/support.hpp"

namespace core = guestkit::core;
namespace plugins = guestkit::plugins;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

core::Context context(const TempDir& t) {
  core::Config cfg;
  cfg.hooks_dir = "/etc/guestkit/hooks";
  return core::Context(t.root(), cfg);
}

}  // namespace

TEST_CASE("hooks: names are plain words", "[hooks]") {
  for (const char* good : {"post-iface-attach", "pre-disk-detach", "post-vm-config"})
    CHECK(plugins::valid_hook_name(good));
  for (const char* bad : {"", "../x", "a/b", "-x", "Post", "x y", "x.sh"})
    CHECK_FALSE(plugins::valid_hook_name(bad));
  TempDir t;
  auto ctx = context(t);
  CHECK(plugins::run_hook(ctx, "../../bin/sh", {}).error().code == core::Errc::bad_input);
}

TEST_CASE("hooks: absent or not executable is skipped", "[hooks]") {
  TempDir t;
  auto ctx = context(t);
  CHECK(*plugins::run_hook(ctx, "post-iface-attach", {"eth1"}) == plugins::Outcome::skipped);
  t.write("etc/guestkit/hooks/post-iface-attach", "#!/bin/sh\ntouch \"$GUESTKIT_ROOT/ran\"\n",
          0644);
  CHECK(*plugins::run_hook(ctx, "post-iface-attach", {"eth1"}) == plugins::Outcome::skipped);
  CHECK_FALSE(fs::exists(t.path() / "ran"));
}

TEST_CASE("hooks: run with the arguments and environment, output logged", "[hooks]") {
  TempDir t;
  auto ctx = context(t);
  t.write("etc/guestkit/hooks/post-disk-attach",
          "#!/bin/sh\necho \"$GUESTKIT_HOOK [$1] [$2] $X\" > \"$GUESTKIT_ROOT/out\"\n", 0755);
  auto r = plugins::run_hook(ctx, "post-disk-attach", {"/dev/vdb", "with space"}, {{"X", "y"}});
  REQUIRE(r.ok());
  CHECK(*r == plugins::Outcome::changed);
  CHECK(t.read("out") == "post-disk-attach [/dev/vdb] [with space] y\n");
}

TEST_CASE("hooks: a failing or slow hook is an error naming it", "[hooks]") {
  TempDir t;
  auto ctx = context(t);
  ctx.config.plugins.timeout = std::chrono::milliseconds(300);
  t.write("etc/guestkit/hooks/pre-iface-detach", "#!/bin/sh\nexit 3\n", 0755);
  auto r = plugins::run_hook(ctx, "pre-iface-detach", {"eth1"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("pre-iface-detach exited with status 3") != std::string::npos);
  t.write("etc/guestkit/hooks/pre-iface-detach", "#!/bin/sh\nsleep 5\n", 0755);
  r = plugins::run_hook(ctx, "pre-iface-detach", {"eth1"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message().find("timed out") != std::string::npos);
}

TEST_CASE("hooks: writable by others or not a file is refused and dry-run only says", "[hooks]") {
  TempDir t;
  auto ctx = context(t);
  t.write("etc/guestkit/hooks/post-iface-attach", "#!/bin/sh\ntouch \"$GUESTKIT_ROOT/ran\"\n",
          0757);
  auto r = plugins::run_hook(ctx, "post-iface-attach", {"eth1"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == core::Errc::unsafe);
  CHECK_FALSE(fs::exists(t.path() / "ran"));
  fs::create_directories(t.path() / "etc/guestkit/hooks/post-vm-config");
  CHECK_FALSE(plugins::run_hook(ctx, "post-vm-config", {}).ok());

  fs::permissions(t.path() / "etc/guestkit/hooks/post-iface-attach", fs::perms(0755));
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  CHECK(*plugins::run_hook(ctx, "post-iface-attach", {"eth1"}) == plugins::Outcome::changed);
  CHECK(out.str() == "would run hook " +
                         (t.path() / "etc/guestkit/hooks/post-iface-attach").string() + " eth1\n");
  CHECK_FALSE(fs::exists(t.path() / "ran"));
}
