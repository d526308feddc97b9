// 13-set-motd: /etc/motd or an update-motd.d script, idempotent, nothing lost.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "core/exec.hpp"
#include "plugins/boot/boot.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

core::Result<gp::Outcome> run_motd(core::Context& ctx) {
  gp::PluginContext pc{ctx, "config", {}, {}, nullptr};
  return gp::boot::set_motd(pc);
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("motd: writes /etc/motd with the banner, then is idempotent", "[motd]") {
  TempDir t;
  fs::create_directories(t.path() / "etc");
  core::Config cfg;
  cfg.disk.root = "/data";
  core::Context ctx(t.root(), cfg);
  auto r = run_motd(ctx);
  REQUIRE(r);
  CHECK(*r == gp::Outcome::changed);
  auto text = t.read("etc/motd");
  CHECK(text.find("guestkit") != std::string::npos);
  CHECK(text.find("Data disks are mounted at /data/<label>") != std::string::npos);
  CHECK(text.back() == '\n');
  CHECK(mode_of(t.path() / "etc/motd") == 0644);
  auto again = run_motd(ctx);
  REQUIRE(again);
  CHECK(*again == gp::Outcome::unchanged);
}

TEST_CASE("motd: custom text, and the image's own motd is kept once", "[motd]") {
  TempDir t;
  t.write("etc/motd", "Debian's own words\n");
  core::Config cfg;
  cfg.motd.text = "Welcome to vm42";
  core::Context ctx(t.root(), cfg);
  REQUIRE(*run_motd(ctx) == gp::Outcome::changed);
  CHECK(t.read("etc/motd") == "Welcome to vm42\n");
  CHECK(t.read("etc/motd.guestkit-orig") == "Debian's own words\n");
  // A later change does not overwrite the saved original.
  ctx.config.motd.text = "Welcome again";
  REQUIRE(*run_motd(ctx) == gp::Outcome::changed);
  CHECK(t.read("etc/motd") == "Welcome again\n");
  CHECK(t.read("etc/motd.guestkit-orig") == "Debian's own words\n");
}

TEST_CASE("motd: a wrong mode alone is repaired", "[motd]") {
  TempDir t;
  core::Config cfg;
  cfg.motd.text = "x\n";
  t.write("etc/motd", "x\n", 0600);
  core::Context ctx(t.root(), cfg);
  REQUIRE(*run_motd(ctx) == gp::Outcome::changed);
  CHECK(mode_of(t.path() / "etc/motd") == 0644);
}

TEST_CASE("motd: with /etc/update-motd.d a script prints the text verbatim", "[motd]") {
  TempDir t;
  fs::create_directories(t.path() / "etc/update-motd.d");
  t.write("etc/motd", "untouched\n");
  core::Config cfg;
  cfg.motd.text = "It's $HOME `id` \\n \"quoted\"\nsecond line\n";
  core::Context ctx(t.root(), cfg);
  REQUIRE(*run_motd(ctx) == gp::Outcome::changed);
  auto script = t.path() / "etc/update-motd.d/50-guestkit";
  CHECK(mode_of(script) == 0755);
  CHECK(t.read("etc/motd") == "untouched\n");  // dynamic motd: /etc/motd is not ours
  auto out = core::run({script.string()});
  REQUIRE(out);
  CHECK(out->success());
  CHECK(out->out == cfg.motd.text);  // no expansion, no interpretation
  CHECK(*run_motd(ctx) == gp::Outcome::unchanged);
}

TEST_CASE("motd: dry-run reports and changes nothing", "[motd]") {
  TempDir t;
  t.write("etc/motd", "old\n");
  core::Config cfg;
  cfg.motd.text = "new";
  core::Context ctx(t.root(), cfg);
  ctx.dry_run = true;
  std::ostringstream out;
  ctx.out = &out;
  REQUIRE(*run_motd(ctx) == gp::Outcome::changed);
  CHECK(t.read("etc/motd") == "old\n");
  CHECK_FALSE(fs::exists(t.path() / "etc/motd.guestkit-orig"));
  CHECK(out.str() == "would keep the previous " + (t.path() / "etc/motd").string() + " as " +
                         (t.path() / "etc/motd.guestkit-orig").string() + "\nwould write " +
                         (t.path() / "etc/motd").string() + " (4 bytes)\n");
}

TEST_CASE("motd: a symlink at /etc/motd is replaced, its target untouched", "[motd]") {
  TempDir t;
  TempDir victim;
  victim.write("shadow", "root:x:\n");
  fs::create_directories(t.path() / "etc");
  fs::create_symlink(victim.path() / "shadow", t.path() / "etc/motd");
  core::Config cfg;
  cfg.motd.text = "hi";
  core::Context ctx(t.root(), cfg);
  REQUIRE(*run_motd(ctx) == gp::Outcome::changed);
  CHECK(victim.read("shadow") == "root:x:\n");
  CHECK_FALSE(fs::is_symlink(t.path() / "etc/motd"));
  CHECK(t.read("etc/motd") == "hi\n");
}
