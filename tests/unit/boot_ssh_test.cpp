// 11-config-ssh on Debian 12, Rocky 9 and Debian 10 sshd_configs: host keys, the
// drop-in or the in-place edit, idempotence (bytes and mtimes), dry-run, switched
// off, and a planted symlink.

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "plugins/boot/config_ssh.hpp"
#include "tests/unit/boot_fixture.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
namespace fs = std::filesystem;
using guestkit::test::install_fixture;
using guestkit::test::run_one;
using guestkit::test::snapshot;
using guestkit::test::TempDir;

namespace {

void need_ssh_keygen() {
  if (!core::find_program("ssh-keygen"))
    GUESTKIT_SKIP("ssh-keygen is not installed (scripts/setup installs openssh-client)");
}

const char* kDropin =
    "# Written by guestkit (plugin 11-config-ssh) at every boot: edits here are lost.\n"
    "# Change sshd.permit_root_login, or stop this with \"sshd: false\", in\n"
    "# /etc/guestkit/guestkit.yml.\n"
    "PermitRootLogin prohibit-password\n"
    "PermitEmptyPasswords no\n";

}  // namespace

TEST_CASE("ssh: Debian 12 gets host keys and the drop-in, then nothing changes", "[boot-ssh]") {
  need_ssh_keygen();
  TempDir t;
  install_fixture(t, "etc-debian12/ssh", "etc/ssh");
  const std::string main_before = t.read("etc/ssh/sshd_config");
  core::Context ctx(t.root(), core::Config{});

  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  const auto pristine = snapshot(t.path());
  auto dry = run_one(ctx, "config", "11-config-ssh");
  CHECK(dry.status == gp::RunStatus::changed);
  CHECK(out.str().find("would generate SSH host keys (rsa,ecdsa,ed25519)") != std::string::npos);
  CHECK(out.str().find("would write " + t.path().string() +
                       "/etc/ssh/sshd_config.d/50-guestkit.conf") != std::string::npos);
  CHECK(snapshot(t.path()) == pristine);

  ctx.dry_run = false;
  auto r = run_one(ctx, "config", "11-config-ssh");
  INFO(r.message);
  CHECK(r.status == gp::RunStatus::changed);
  for (const char* type : {"rsa", "ecdsa", "ed25519"}) {
    CHECK(fs::exists(t.path() / ("etc/ssh/ssh_host_" + std::string(type) + "_key")));
    CHECK(fs::exists(t.path() / ("etc/ssh/ssh_host_" + std::string(type) + "_key.pub")));
  }
  CHECK(t.read("etc/ssh/sshd_config.d/50-guestkit.conf") == kDropin);
  const auto perms = fs::status(t.path() / "etc/ssh/sshd_config.d/50-guestkit.conf").permissions();
  CHECK((perms & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(t.read("etc/ssh/sshd_config") == main_before);  // the distribution's file is untouched

  const auto settled = snapshot(t.path());
  auto again = run_one(ctx, "config", "11-config-ssh");
  CHECK(again.status == gp::RunStatus::unchanged);
  CHECK(snapshot(t.path()) == settled);
}

TEST_CASE("ssh: Rocky 9 gets the drop-in next to 50-redhat.conf", "[boot-ssh]") {
  need_ssh_keygen();
  TempDir t;
  install_fixture(t, "etc-rocky9/ssh", "etc/ssh");
  core::Config cfg;
  cfg.sshd.permit_root_login = "no";
  core::Context ctx(t.root(), cfg);
  auto r = run_one(ctx, "config", "11-config-ssh");
  INFO(r.message);
  CHECK(r.status == gp::RunStatus::changed);
  auto text = t.read("etc/ssh/sshd_config.d/50-guestkit.conf");
  CHECK(text.find("\nPermitRootLogin no\n") != std::string::npos);
  CHECK(t.read("etc/ssh/sshd_config.d/50-redhat.conf").find("PermitRootLogin") ==
        std::string::npos);
  CHECK(run_one(ctx, "config", "11-config-ssh").status == gp::RunStatus::unchanged);
}

TEST_CASE("ssh: without Include (Debian 10) sshd_config is edited in place", "[boot-ssh]") {
  need_ssh_keygen();
  TempDir t;
  install_fixture(t, "etc-debian10/sshd_config", "etc/ssh/sshd_config");
  const auto before = core::split_lines(t.read("etc/ssh/sshd_config"));
  core::Context ctx(t.root(), core::Config{});
  auto r = run_one(ctx, "config", "11-config-ssh");
  INFO(r.message);
  CHECK(r.status == gp::RunStatus::changed);
  CHECK_FALSE(fs::exists(t.path() / "etc/ssh/sshd_config.d"));
  auto after = core::split_lines(t.read("etc/ssh/sshd_config"));
  // The comments stay; the two settings are appended (no Match block in this file).
  REQUIRE(after.size() == before.size() + 2);
  CHECK(std::equal(before.begin(), before.end(), after.begin()));
  CHECK(after[after.size() - 2] == "PermitRootLogin prohibit-password");
  CHECK(after.back() == "PermitEmptyPasswords no");
  const auto settled = snapshot(t.path());
  CHECK(run_one(ctx, "config", "11-config-ssh").status == gp::RunStatus::unchanged);
  CHECK(snapshot(t.path()) == settled);
}

TEST_CASE("ssh: in-place edit replaces global settings and stays before Match", "[boot-ssh]") {
  std::vector<std::string> lines{"# top",
                                 "permitrootlogin yes",
                                 "PasswordAuthentication yes",
                                 "PermitRootLogin without-password",
                                 "Match User backup",
                                 "\tPermitRootLogin yes",
                                 "\tPermitEmptyPasswords yes"};
  core::Config cfg;
  guestkit::plugins::boot::harden_sshd_config(lines,
                                                 guestkit::plugins::boot::sshd_settings(cfg));
  CHECK(lines == std::vector<std::string>{"# top", "PermitRootLogin prohibit-password",
                                          "PasswordAuthentication yes", "PermitEmptyPasswords no",
                                          "Match User backup", "\tPermitRootLogin yes",
                                          "\tPermitEmptyPasswords yes"});
  CHECK_FALSE(
      guestkit::plugins::boot::includes_dropin_dir({"#Include /etc/ssh/sshd_config.d/*.conf"}));
  CHECK(guestkit::plugins::boot::includes_dropin_dir({"include sshd_config.d/*.conf"}));
  CHECK_FALSE(guestkit::plugins::boot::includes_dropin_dir(
      {"Match all", "Include /etc/ssh/sshd_config.d/*.conf"}));
}

TEST_CASE("ssh: a planted sshd_config.d symlink is refused and nothing changes", "[boot-ssh]") {
  TempDir t;
  install_fixture(t, "etc-debian12/ssh", "etc/ssh");
  t.write("etc/shadow", "root:*:19000:0:99999:7:::\n", 0640);
  fs::create_symlink("/etc/shadow", t.path() / "etc/ssh/sshd_config.d");
  const auto before = snapshot(t.path());
  core::Context ctx(t.root(), core::Config{});
  auto r = run_one(ctx, "config", "11-config-ssh");
  CHECK(r.status == gp::RunStatus::failed);
  CHECK(r.message.find("is a symlink") != std::string::npos);
  CHECK(snapshot(t.path()) == before);
}

TEST_CASE("ssh: switched off (sshd: false, legacy CONFIG_SSHD=no) does nothing", "[boot-ssh]") {
  TempDir t;
  install_fixture(t, "etc-debian12/ssh", "etc/ssh");
  t.write("etc/default/gandi", "CONFIG_SSHD=no\n");
  auto cfg = core::load_config(t.root());
  REQUIRE(cfg);
  CHECK_FALSE(cfg->sshd.enabled);
  const auto before = snapshot(t.path());
  core::Context ctx(t.root(), *cfg);
  auto r = run_one(ctx, "config", "11-config-ssh");
  CHECK(r.status == gp::RunStatus::disabled);
  CHECK(snapshot(t.path()) == before);
  // No sshd in the image: skipped.
  TempDir bare;
  fs::create_directories(bare.path() / "etc");
  core::Context none(bare.root(), core::Config{});
  CHECK(run_one(none, "config", "11-config-ssh").status == gp::RunStatus::skipped);
}
