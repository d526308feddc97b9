// Bootstrap and postboot plugins on temp roots: 02-apply-sysctl, 04-reset-identity,
// 10-run-postboot. (01-setup-swap and 03-grow-root need block devices:
// tests/integration/boot_devices_test.cpp.)

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "tests/unit/boot_fixture.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
namespace fs = std::filesystem;
using guestkit::test::run_one;
using guestkit::test::snapshot;
using guestkit::test::TempDir;

// ---- 02-apply-sysctl

TEST_CASE("sysctl: values are written only where they differ", "[boot-bootstrap]") {
  TempDir t;
  t.write("proc/sys/net/ipv4/ip_forward", "0\n");
  t.write("proc/sys/vm/swappiness", "60\n");
  t.write("proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
  t.write("etc/guestkit/sysctl.conf",
          "# platform settings\n; old style comment\nnet.ipv4.ip_forward = 1\nvm/swappiness=10\n"
          "net.ipv4.tcp_rmem = 4096 131072 6291456\n-net.ipv4.no_such_key = 1\n");
  core::Context ctx(t.root(), core::Config{});
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  const auto before = snapshot(t.path());
  CHECK(run_one(ctx, "bootstrap", "02-apply-sysctl").status == gp::RunStatus::changed);
  CHECK(snapshot(t.path()) == before);
  CHECK(out.str() == "would set net.ipv4.ip_forward = 1\nwould set vm/swappiness = 10\n");
  ctx.dry_run = false;
  auto r = run_one(ctx, "bootstrap", "02-apply-sysctl");
  INFO(r.message);
  CHECK(r.status == gp::RunStatus::changed);
  CHECK(t.read("proc/sys/net/ipv4/ip_forward") == "1\n");
  CHECK(t.read("proc/sys/vm/swappiness") == "10\n");
  CHECK(t.read("proc/sys/net/ipv4/tcp_rmem") == "4096\t131072\t6291456\n");
  CHECK_FALSE(fs::exists(t.path() / "proc/sys/net/ipv4/no_such_key"));
  const auto settled = snapshot(t.path());
  CHECK(run_one(ctx, "bootstrap", "02-apply-sysctl").status == gp::RunStatus::unchanged);
  CHECK(snapshot(t.path()) == settled);
}

TEST_CASE("sysctl: bad keys and missing settings are reported, the rest applies",
          "[boot-bootstrap]") {
  TempDir t;
  t.write("proc/sys/vm/swappiness", "60\n");
  t.write("etc/shadow", "secret\n");
  t.write("etc/guestkit/sysctl.conf",
          "../../etc/shadow = x\nvm..x = 1\nnet.ipv4.nope = 1\nnot a setting\nvm.swappiness = 5\n");
  core::Context ctx(t.root(), core::Config{});
  auto r = run_one(ctx, "bootstrap", "02-apply-sysctl");
  CHECK(r.status == gp::RunStatus::failed);
  CHECK(r.message.find("sysctl.conf:1: invalid key") != std::string::npos);
  CHECK(r.message.find("sysctl.conf:2: invalid key") != std::string::npos);
  CHECK(r.message.find("net.ipv4.nope: no such setting") != std::string::npos);
  CHECK(r.message.find("sysctl.conf:4: not 'key = value'") != std::string::npos);
  CHECK(t.read("proc/sys/vm/swappiness") == "5\n");
  CHECK(t.read("etc/shadow") == "secret\n");
}

TEST_CASE("sysctl: no file, or switched off (CONFIG_SYSCTL=0), does nothing", "[boot-bootstrap]") {
  TempDir t;
  t.write("proc/sys/vm/swappiness", "60\n");
  core::Context ctx(t.root(), core::Config{});
  CHECK(run_one(ctx, "bootstrap", "02-apply-sysctl").status == gp::RunStatus::skipped);
  t.write("etc/guestkit/sysctl.conf", "vm.swappiness = 1\n");
  t.write("etc/default/gandi", "CONFIG_SYSCTL=0\n");
  auto cfg = core::load_config(t.root());
  REQUIRE(cfg);
  core::Context off(t.root(), *cfg);
  const auto before = snapshot(t.path());
  CHECK(run_one(off, "bootstrap", "02-apply-sysctl").status == gp::RunStatus::disabled);
  CHECK(snapshot(t.path()) == before);
}

// ---- 04-reset-identity

TEST_CASE("identity: recorded on first sight, reset on a new instance id", "[boot-bootstrap]") {
  if (!core::find_program("ssh-keygen"))
    GUESTKIT_SKIP("ssh-keygen is not installed (scripts/setup installs openssh-client)");
  TempDir t;
  const std::string old_id = "0123456789abcdef0123456789abcdef\n";
  t.write("etc/machine-id", old_id, 0444);
  fs::create_directories(t.path() / "var/lib/dbus");
  fs::create_symlink("/etc/machine-id", t.path() / "var/lib/dbus/machine-id");
  t.write("etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n");
  REQUIRE(core::run({"ssh-keygen", "-A", "-f", t.path().string()})->success());
  const std::string old_key = t.read("etc/ssh/ssh_host_ed25519_key.pub");
  t.write("sys/class/dmi/id/product_uuid", "4C4C4544-0042-4A10-8036-B4C04F4E3232\n");
  core::Context ctx(t.root(), core::Config{});

  // First sight: only recorded.
  auto first = run_one(ctx, "bootstrap", "04-reset-identity");
  INFO(first.message);
  CHECK(first.status == gp::RunStatus::changed);
  CHECK(t.read("var/lib/guestkit/instance-id") == "4c4c4544-0042-4a10-8036-b4c04f4e3232\n");
  CHECK(t.read("etc/machine-id") == old_id);
  CHECK(t.read("etc/ssh/ssh_host_ed25519_key.pub") == old_key);
  auto settled = snapshot(t.path());
  CHECK(run_one(ctx, "bootstrap", "04-reset-identity").status == gp::RunStatus::unchanged);
  CHECK(snapshot(t.path()) == settled);

  // Cloned: the platform boots the disk as another VM (the kernel argument wins).
  t.write("proc/cmdline", "ro guestkit.instance_id=vm-clone-2\n");
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  settled = snapshot(t.path());
  CHECK(run_one(ctx, "bootstrap", "04-reset-identity").status == gp::RunStatus::changed);
  CHECK(snapshot(t.path()) == settled);
  CHECK(out.str().find("would new instance vm-clone-2") != std::string::npos);
  ctx.dry_run = false;
  auto clone = run_one(ctx, "bootstrap", "04-reset-identity");
  INFO(clone.message);
  CHECK(clone.status == gp::RunStatus::changed);
  const std::string new_id = t.read("etc/machine-id");
  CHECK(new_id != old_id);
  CHECK(new_id.size() == 33);
  CHECK(new_id[12] == '4');  // UUID v4 bits, like systemd
  CHECK(fs::is_symlink(t.path() / "var/lib/dbus/machine-id"));
  CHECK(t.read("etc/ssh/ssh_host_ed25519_key.pub") != old_key);
  CHECK(fs::exists(t.path() / "etc/ssh/ssh_host_rsa_key"));
  CHECK(t.read("var/lib/guestkit/instance-id") == "vm-clone-2\n");
  settled = snapshot(t.path());
  CHECK(run_one(ctx, "bootstrap", "04-reset-identity").status == gp::RunStatus::unchanged);
  CHECK(snapshot(t.path()) == settled);

  ctx.config.identity.enabled = false;
  t.write("proc/cmdline", "guestkit.instance_id=vm-3\n");
  settled = snapshot(t.path());
  CHECK(run_one(ctx, "bootstrap", "04-reset-identity").status == gp::RunStatus::disabled);
  CHECK(snapshot(t.path()) == settled);
}

TEST_CASE("identity: no instance id, or a placeholder UUID, does nothing", "[boot-bootstrap]") {
  TempDir t;
  t.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  core::Context ctx(t.root(), core::Config{});
  CHECK(run_one(ctx, "bootstrap", "04-reset-identity").status == gp::RunStatus::skipped);
  t.write("sys/class/dmi/id/product_uuid", "00000000-0000-0000-0000-000000000000\n");
  t.write("proc/cmdline", "guestkit.instance_id=../../x\n");
  const auto before = snapshot(t.path());
  CHECK(run_one(ctx, "bootstrap", "04-reset-identity").status == gp::RunStatus::skipped);
  CHECK(snapshot(t.path()) == before);
}

// ---- 10-run-postboot

namespace {

// A root that can run `#!/bin/sh` scripts chrooted: dash and the libraries it needs.
void shell_root(const TempDir& t) {
  auto ldd = core::run({"ldd", "/bin/dash"});
  REQUIRE(ldd);
  REQUIRE(ldd->success());
  fs::create_directories(t.path() / "bin");
  fs::copy_file("/bin/dash", t.path() / "bin/sh");
  std::istringstream in(ldd->out);
  for (std::string line; std::getline(in, line);) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string lib = line.substr(slash, line.find(' ', slash) - slash);
    fs::create_directories(t.path() / fs::path(lib).parent_path().relative_path());
    fs::copy_file(lib, t.path() / fs::path(lib).relative_path(),
                  fs::copy_options::overwrite_existing);
  }
}

}  // namespace

TEST_CASE("postboot: first-boot scripts run once, chrooted, then sit in done/",
          "[boot-bootstrap]") {
  if (!guestkit::test::running_as_root())
    GUESTKIT_SKIP("postboot scripts under --root run chrooted: needs root");
  TempDir t;
  shell_root(t);
  t.write("var/lib/guestkit/postboot/10-first",
          "#!/bin/sh\necho \"ran $GUESTKIT_POSTBOOT in $(pwd)\" >> /ran.log\n", 0755);
  t.write("var/lib/guestkit/postboot/20-fails", "#!/bin/sh\necho oops >&2\nexit 3\n", 0755);
  t.write("var/lib/guestkit/postboot/30-unsafe", "#!/bin/sh\necho unsafe >> /ran.log\n", 0777);
  t.write("var/lib/guestkit/postboot/README.txt", "not a script name\n");
  core::Context ctx(t.root(), core::Config{});

  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  auto before = snapshot(t.path());
  run_one(ctx, "postboot", "10-run-postboot");
  CHECK(snapshot(t.path()) == before);
  ctx.dry_run = false;

  auto r = run_one(ctx, "postboot", "10-run-postboot");
  CHECK(r.status == gp::RunStatus::failed);
  CHECK(r.message.find("20-fails: exited with status 3") != std::string::npos);
  CHECK(r.message.find("30-unsafe: unsafe: writable by group or others, not run") !=
        std::string::npos);
  CHECK(t.read("ran.log") == "ran 10-first in /\n");
  CHECK(fs::exists(t.path() / "var/lib/guestkit/postboot/done/10-first"));
  CHECK(fs::exists(t.path() / "var/lib/guestkit/postboot/done/20-fails"));
  CHECK_FALSE(fs::exists(t.path() / "var/lib/guestkit/postboot/10-first"));
  CHECK(fs::exists(t.path() / "var/lib/guestkit/postboot/30-unsafe"));  // left for the admin

  // Next boot: the unsafe one is still refused, nothing runs twice.
  fs::remove(t.path() / "var/lib/guestkit/postboot/30-unsafe");
  before = snapshot(t.path());
  CHECK(run_one(ctx, "postboot", "10-run-postboot").status == gp::RunStatus::skipped);
  CHECK(snapshot(t.path()) == before);
  CHECK(t.read("ran.log") == "ran 10-first in /\n");

  ctx.config.postboot.enabled = false;
  t.write("var/lib/guestkit/postboot/40-new", "#!/bin/sh\necho new >> /ran.log\n", 0755);
  CHECK(run_one(ctx, "postboot", "10-run-postboot").status == gp::RunStatus::disabled);
  CHECK(t.read("ran.log") == "ran 10-first in /\n");
}

// ---- 99-hook-vm-config

TEST_CASE("post-vm-config hook: never run against an image root", "[boot-bootstrap]") {
  TempDir t;
  t.write("etc/guestkit/hooks/post-vm-config", "#!/bin/sh\ntouch /tmp/guestkit-must-not-exist\n",
          0755);
  core::Context ctx(t.root(), core::Config{});
  ctx.config.hooks_dir = "/etc/guestkit/hooks";
  std::ostringstream out;
  ctx.out = &out;
  const auto before = snapshot(t.path());
  auto r = run_one(ctx, "config", "99-hook-vm-config");
  CHECK(r.status == gp::RunStatus::skipped);
  CHECK(out.str() == "would run hook post-vm-config (if present)\n");
  CHECK(snapshot(t.path()) == before);
  CHECK_FALSE(fs::exists("/tmp/guestkit-must-not-exist"));
}
