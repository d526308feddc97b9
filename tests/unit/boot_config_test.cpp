// Config stage plugins on temp roots built from the Debian 12 and Rocky 9 fixtures:
// 01-config-console, 02-check-system-files, 03-randomize-cron, 07-set-timezone.
// Each: expected contents, a second run changes nothing (bytes and mtimes), dry-run
// changes nothing, switched off does nothing.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/files.hpp"
#include "plugins/boot/config_console.hpp"
#include "plugins/boot/randomize_cron.hpp"
#include "plugins/boot/system_files.hpp"
#include "tests/unit/boot_fixture.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
namespace gb = guestkit::plugins::boot;
namespace fs = std::filesystem;
using guestkit::test::install_fixture;
using guestkit::test::run_one;
using guestkit::test::snapshot;
using guestkit::test::TempDir;
using Lines = std::vector<std::string>;

namespace {

// Runs once for real, then checks a second run and a dry run change nothing.
void settles(core::Context& ctx, const fs::path& dir, const std::string& name) {
  const auto settled = snapshot(dir);
  auto again = run_one(ctx, "config", name);
  INFO(again.message);
  CHECK(again.status == gp::RunStatus::unchanged);
  CHECK(snapshot(dir) == settled);
}

// A dry run reports and changes nothing.
std::string dry_run(core::Context& ctx, const fs::path& dir, const std::string& name) {
  std::ostringstream out;
  ctx.out = &out;
  ctx.dry_run = true;
  const auto before = snapshot(dir);
  auto r = run_one(ctx, "config", name);
  INFO(r.message);
  CHECK(r.status == gp::RunStatus::changed);
  CHECK(snapshot(dir) == before);
  ctx.dry_run = false;
  ctx.out = nullptr;
  return out.str();
}

void switched_off(core::Context& ctx, const fs::path& dir, const std::string& name) {
  const auto before = snapshot(dir);
  CHECK(run_one(ctx, "config", name).status == gp::RunStatus::disabled);
  CHECK(snapshot(dir) == before);
}

}  // namespace

// ---- 02-check-system-files

TEST_CASE("system files: stock Debian 12 and Rocky 9 hosts and fstab are left alone",
          "[boot-config]") {
  for (const char* distro : {"etc-debian12", "etc-rocky9"}) {
    INFO(distro);
    TempDir t;
    install_fixture(t, std::string(distro) + "/hosts", "etc/hosts");
    install_fixture(t, std::string(distro) + "/fstab", "etc/fstab");
    core::Context ctx(t.root(), core::Config{});
    const auto before = snapshot(t.path());
    CHECK(run_one(ctx, "config", "02-check-system-files").status == gp::RunStatus::unchanged);
    CHECK(snapshot(t.path()) == before);
  }
}

TEST_CASE("system files: localhost lines are added, or a hosts file created", "[boot-config]") {
  TempDir t;
  t.write("etc/hosts", "# cloud hosts\n10.0.0.5\tweb1\n");
  core::Context ctx(t.root(), core::Config{});
  CHECK(dry_run(ctx, t.path(), "02-check-system-files").find("would add localhost lines") !=
        std::string::npos);
  CHECK(run_one(ctx, "config", "02-check-system-files").status == gp::RunStatus::changed);
  CHECK(t.read("etc/hosts") ==
        "# cloud hosts\n127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost "
        "ip6-loopback\n10.0.0.5\tweb1\n");
  settles(ctx, t.path(), "02-check-system-files");

  TempDir empty;
  fs::create_directories(empty.path() / "etc");
  core::Context ectx(empty.root(), core::Config{});
  CHECK(run_one(ectx, "config", "02-check-system-files").status == gp::RunStatus::changed);
  CHECK(empty.read("etc/hosts") ==
        "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n");

  ctx.config.system_files.enabled = false;
  t.write("etc/hosts", "10.0.0.5 web1\n");
  switched_off(ctx, t.path(), "02-check-system-files");
}

TEST_CASE("system files: an fstab root by device name becomes UUID=, others stay",
          "[boot-config]") {
  TempDir t;
  install_fixture(t, "etc-debian12/fstab.by-device", "etc/fstab");
  auto lines = core::split_lines(t.read("etc/fstab"));
  CHECK(gb::fstab_root_by_device_name(lines));
  auto fixed = lines;
  CHECK(gb::fix_fstab_root(fixed, "1234-abcd"));
  REQUIRE(fixed.size() == lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("/dev/sda1 ", 0) == 0)
      CHECK(fixed[i] ==
            "UUID=1234-abcd /                                                ext4    "
            "errors=remount-ro 0       1");
    else
      CHECK(fixed[i] == lines[i]);
  }
  CHECK_FALSE(gb::fix_fstab_root(fixed, "1234-abcd"));
  // LVM, by-uuid paths, LABEL=, PARTUUID= and /dev/sr0 on another mountpoint: not stale.
  for (const char* spec : {"/dev/mapper/rl-root", "/dev/disk/by-uuid/x", "LABEL=root",
                           "PARTUUID=ab-01", "/dev/vg0/root"})
    CHECK_FALSE(gb::fstab_root_by_device_name({std::string(spec) + " / xfs defaults 0 0"}));
  CHECK(gb::fstab_root_by_device_name({"/dev/xvda1\t/\text3\tdefaults\t0 1"}));
  CHECK_FALSE(gb::fstab_root_by_device_name({"#/dev/xvda1 / ext3 defaults 0 1"}));

  // On a plain directory tree the root's UUID is unknown: the file is left alone
  // (tests/integration/boot_devices_test.cpp fixes one on a real filesystem).
  install_fixture(t, "etc-debian12/hosts", "etc/hosts");
  core::Context ctx(t.root(), core::Config{});
  const auto before = snapshot(t.path());
  CHECK(run_one(ctx, "config", "02-check-system-files").status == gp::RunStatus::unchanged);
  CHECK(snapshot(t.path()) == before);
}

// ---- 01-config-console

namespace {

void systemd_image(const TempDir& t, const std::string& unit_dir) {
  t.write(unit_dir.substr(1) + "/serial-getty@.service",
          "[Unit]\nDescription=Serial Getty on %I\n");
  t.write(unit_dir.substr(1) + "/getty@.service", "[Unit]\nDescription=Getty on %I\n");
  fs::create_directories(t.path() / "sbin");
  fs::create_symlink("../lib/systemd/systemd", t.path() / "sbin/init");
  t.write("proc/consoles",
          "ttyS0                -W- (EC p a)    4:64\nhvc0                 -W- (E  p  )  229:0\n"
          "tty0                 -WU (E     )    4:1\nnetcon0              -W- (E     )\n");
}

}  // namespace

TEST_CASE("console: names from /proc/consoles", "[boot-config]") {
  CHECK(gb::getty_consoles(
            "ttyS0 -W- (EC p a) 4:64\ntty0 -WU (E) 4:1\nnetcon0 -W- (E)\nxvc0 -W- (E) 204:191\n"
            "../../etc -W- (E)\nttyAMA0 -W- (EC p) 204:64\n") ==
        Lines{"ttyS0", "tty1", "xvc0", "ttyAMA0"});
}

TEST_CASE("console: systemd (Debian 12 layout) enables serial gettys", "[boot-config]") {
  TempDir t;
  systemd_image(t, "/lib/systemd/system");
  t.write("etc/securetty", "console\ntty1\n");
  core::Context ctx(t.root(), core::Config{});
  auto out = dry_run(ctx, t.path(), "01-config-console");
  CHECK(out.find("would enable serial-getty@ttyS0.service") != std::string::npos);
  auto r = run_one(ctx, "config", "01-config-console");
  INFO(r.message);
  CHECK(r.status == gp::RunStatus::changed);
  const auto wants = t.path() / "etc/systemd/system/getty.target.wants";
  CHECK(fs::read_symlink(wants / "serial-getty@ttyS0.service") ==
        "/lib/systemd/system/serial-getty@.service");
  CHECK(fs::read_symlink(wants / "serial-getty@hvc0.service") ==
        "/lib/systemd/system/serial-getty@.service");
  CHECK(fs::read_symlink(wants / "getty@tty1.service") == "/lib/systemd/system/getty@.service");
  CHECK_FALSE(fs::exists(wants / "serial-getty@netcon0.service"));
  CHECK(t.read("etc/securetty") == "console\ntty1\nttyS0\nhvc0\n");
  settles(ctx, t.path(), "01-config-console");
}

TEST_CASE("console: systemd (Rocky 9 layout) keeps an existing /usr/lib link", "[boot-config]") {
  TempDir t;
  systemd_image(t, "/usr/lib/systemd/system");
  install_fixture(t, "etc-rocky9/inittab", "etc/inittab");  // comment-only: systemd still wins
  fs::create_directories(t.path() / "etc/systemd/system/getty.target.wants");
  fs::create_symlink("/usr/lib/systemd/system/getty@.service",
                     t.path() / "etc/systemd/system/getty.target.wants/getty@tty1.service");
  core::Context ctx(t.root(), core::Config{});
  CHECK(run_one(ctx, "config", "01-config-console").status == gp::RunStatus::changed);
  CHECK(fs::read_symlink(t.path() /
                         "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service") ==
        "/usr/lib/systemd/system/serial-getty@.service");
  std::ifstream rocky(guestkit::test::fixture("etc-rocky9/inittab"));
  std::stringstream rocky_text;
  rocky_text << rocky.rdbuf();
  CHECK(t.read("etc/inittab") == rocky_text.str());  // systemd image: inittab untouched
  settles(ctx, t.path(), "01-config-console");
}

TEST_CASE("console: sysvinit (Debian inittab) gets respawn lines", "[boot-config]") {
  TempDir t;
  install_fixture(t, "etc-debian12/inittab", "etc/inittab");
  t.write("proc/consoles", "ttyS0 -W- (EC p a) 4:64\ntty0 -WU (E) 4:1\nhvc0 -W- (E p) 229:0\n");
  const auto before = core::split_lines(t.read("etc/inittab"));
  core::Context ctx(t.root(), core::Config{});
  dry_run(ctx, t.path(), "01-config-console");
  CHECK(run_one(ctx, "config", "01-config-console").status == gp::RunStatus::changed);
  auto after = core::split_lines(t.read("etc/inittab"));
  auto expected = before;
  expected.push_back("T0:2345:respawn:/sbin/getty -L ttyS0 115200 vt102");
  expected.push_back("hv0:2345:respawn:/sbin/getty -L hvc0 115200 vt102");  // tty1 already has one
  CHECK(after == expected);
  settles(ctx, t.path(), "01-config-console");
  ctx.config.console.enabled = false;
  t.write("proc/consoles", "ttyS1 -W- (EC p a) 4:65\n");
  switched_off(ctx, t.path(), "01-config-console");
}

// ---- 03-randomize-cron

TEST_CASE("cron: Debian 12 crontab times are spread per instance id", "[boot-config]") {
  TempDir t;
  install_fixture(t, "etc-debian12/crontab", "etc/crontab");
  t.write("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro guestkit.instance_id=vm-4242\n");
  const auto before = core::split_lines(t.read("etc/crontab"));
  core::Context ctx(t.root(), core::Config{});
  dry_run(ctx, t.path(), "03-randomize-cron");
  CHECK(run_one(ctx, "config", "03-randomize-cron").status == gp::RunStatus::changed);
  auto after = core::split_lines(t.read("etc/crontab"));
  REQUIRE(after.size() == before.size());
  int changed = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i]) continue;
    ++changed;
    // Only the minute and hour moved: the rest, tabs included, is the same.
    const auto tab = before[i].find('\t');
    CHECK(after[i].substr(after[i].find('\t')) == before[i].substr(tab));
    CHECK(before[i].find("/etc/cron.") != std::string::npos);
    const int minute = std::stoi(after[i]);
    CHECK((minute >= 0 && minute < 60));
    const int hour = after[i].find("cron.hourly") != std::string::npos
                         ? -1
                         : std::stoi(after[i].substr(after[i].find(' ')));
    if (hour >= 0) CHECK(hour < 6);
  }
  CHECK(changed >= 3);  // four lines; one may keep its time by chance
  settles(ctx, t.path(), "03-randomize-cron");

  // Another VM gets other times; the same VM always the same.
  Lines other = before, same = before;
  gb::spread_crontab(other, "vm-1");
  gb::spread_crontab(same, "vm-4242");
  CHECK(same == after);
  CHECK(other != after);

  ctx.config.cron.enabled = false;
  install_fixture(t, "etc-debian12/crontab", "etc/crontab");
  switched_off(ctx, t.path(), "03-randomize-cron");
}

TEST_CASE("cron: Rocky 9 crontab has nothing to spread", "[boot-config]") {
  TempDir t;
  install_fixture(t, "etc-rocky9/crontab", "etc/crontab");
  t.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  core::Context ctx(t.root(), core::Config{});
  const auto before = snapshot(t.path());
  CHECK(run_one(ctx, "config", "03-randomize-cron").status == gp::RunStatus::unchanged);
  CHECK(snapshot(t.path()) == before);
}

// ---- 07-set-timezone

TEST_CASE("timezone: from config, on a Debian root", "[boot-config]") {
  TempDir t;
  t.write("usr/share/zoneinfo/Europe/Paris", "TZif2 paris");
  t.write("usr/share/zoneinfo/Etc/UTC", "TZif2 utc");
  t.write("etc/debian_version", "12.5\n");
  t.write("etc/timezone", "Etc/UTC\n");
  fs::create_symlink("/usr/share/zoneinfo/Etc/UTC", t.path() / "etc/localtime");
  core::Config cfg;
  cfg.timezone.zone = "Europe/Paris";
  core::Context ctx(t.root(), cfg);
  CHECK(dry_run(ctx, t.path(), "07-set-timezone").find("would link") != std::string::npos);
  CHECK(run_one(ctx, "config", "07-set-timezone").status == gp::RunStatus::changed);
  CHECK(fs::read_symlink(t.path() / "etc/localtime") == "../usr/share/zoneinfo/Europe/Paris");
  CHECK(t.read("etc/timezone") == "Europe/Paris\n");
  settles(ctx, t.path(), "07-set-timezone");
  ctx.config.timezone.enabled = false;
  ctx.config.timezone.zone = "Etc/UTC";
  switched_off(ctx, t.path(), "07-set-timezone");
}

TEST_CASE("timezone: from guestkit.tz= on a Rocky root, none given: left alone", "[boot-config]") {
  TempDir t;
  t.write("usr/share/zoneinfo/America/New_York", "TZif2 ny");
  fs::create_directories(t.path() / "etc");
  fs::create_symlink("../usr/share/zoneinfo/UTC", t.path() / "etc/localtime");
  core::Context ctx(t.root(), core::Config{});
  const auto pristine = snapshot(t.path());
  CHECK(run_one(ctx, "config", "07-set-timezone").status == gp::RunStatus::skipped);
  CHECK(snapshot(t.path()) == pristine);
  t.write("proc/cmdline", "ro console=ttyS0 guestkit.tz=America/New_York quiet\n");
  CHECK(run_one(ctx, "config", "07-set-timezone").status == gp::RunStatus::changed);
  CHECK(fs::read_symlink(t.path() / "etc/localtime") == "../usr/share/zoneinfo/America/New_York");
  CHECK_FALSE(fs::exists(t.path() / "etc/timezone"));  // not a Debian system
  settles(ctx, t.path(), "07-set-timezone");
}

TEST_CASE("timezone: bad or unknown zones change nothing", "[boot-config]") {
  TempDir t;
  t.write("usr/share/zoneinfo/UTC", "TZif2");
  t.write("etc/shadow", "root:*:1::::::\n");
  fs::create_symlink("../usr/share/zoneinfo/UTC", t.path() / "etc/localtime");
  core::Context ctx(t.root(), core::Config{});
  for (const char* arg : {"guestkit.tz=../../etc/shadow", "guestkit.tz=Mars/Olympus"}) {
    t.write("proc/cmdline", std::string(arg) + "\n");
    const auto with_cmdline = snapshot(t.path());
    auto r = run_one(ctx, "config", "07-set-timezone");
    CHECK(r.status == gp::RunStatus::failed);
    CHECK(snapshot(t.path()) == with_cmdline);
  }
  CHECK(fs::read_symlink(t.path() / "etc/localtime") == "../usr/share/zoneinfo/UTC");
  CHECK(t.read("etc/shadow") == "root:*:1::::::\n");
}

TEST_CASE("planted symlinks at crontab, hosts and inittab are refused, nothing changes",
          "[boot-config]") {
  TempDir t;
  t.write("etc/shadow", "root:$y$j9T$secret:19000:0:99999:7:::\n", 0640);
  for (const char* name : {"etc/crontab", "etc/hosts", "etc/inittab"})
    fs::create_symlink("/etc/shadow", t.path() / name);
  t.write("proc/cmdline", "guestkit.instance_id=vm-1\n");
  t.write("proc/consoles", "ttyS0 -W- (EC p a) 4:64\n");
  core::Context ctx(t.root(), core::Config{});
  const auto before = snapshot(t.path());
  for (const char* plugin : {"03-randomize-cron", "02-check-system-files", "01-config-console"}) {
    INFO(plugin);
    auto r = run_one(ctx, "config", plugin);
    CHECK(r.status == gp::RunStatus::failed);
  }
  CHECK(snapshot(t.path()) == before);
}
