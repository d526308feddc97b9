// guestkit-boot as a user runs it: the real binary on a throwaway root.

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "core/exec.hpp"
#include "tests/support.hpp"
#include "tests/unit/boot_fixture.hpp"

namespace core = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

core::ExecResult boot(std::vector<std::string> args) {
  args.insert(args.begin(), guestkit::test::built_binary("plugins", "guestkit-boot").string());
  core::ExecOptions o;
  o.timeout = std::chrono::seconds(30);
  auto r = core::run(args, o);
  REQUIRE(r);
  return std::move(r).value();
}

// Every path and its content/link target: to prove a run changed nothing.
std::set<std::string> snapshot(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string line = fs::relative(e.path(), dir).string();
    if (e.is_symlink()) line += " -> " + fs::read_symlink(e.path()).string();
    else if (e.is_regular_file()) line += " size " + std::to_string(e.file_size());
    out.insert(line);
  }
  return out;
}

}  // namespace

TEST_CASE("guestkit-boot --help, --version and usage errors", "[boot-cli]") {
  auto help = boot({"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("Usage: guestkit-boot [OPTION]... STAGE") == 0);
  CHECK(help.out.find("--dry-run") != std::string::npos);
  CHECK(help.out.find("Exit status:") != std::string::npos);
  auto version = boot({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("guestkit-boot (guestkit) ", 0) == 0);
  auto bad = boot({"--bogus"});
  CHECK(bad.exit_code == 64);
  CHECK(bad.err.find("unrecognized option '--bogus'") != std::string::npos);
  CHECK(boot({}).exit_code == 64);
  auto stage = boot({"reboot"});
  CHECK(stage.exit_code == 64);
  CHECK(stage.err.find("unknown stage 'reboot'") != std::string::npos);
  CHECK(boot({"config", "extra"}).exit_code == 64);
  CHECK(boot({"--root"}).exit_code == 64);
  auto noroot = boot({"--root", "/nonexistent/guestkit", "config"});
  CHECK(noroot.exit_code == 2);
  CHECK(noroot.err.find("/nonexistent/guestkit") != std::string::npos);
}

TEST_CASE("an executable dropped into plugins.d/config runs before 13-set-motd", "[boot-cli]") {
  TempDir t;
  // The plugin proves its turn: /etc/motd must not exist yet when it runs.
  t.write("etc/guestkit/plugins.d/config/05-hello",
          "#!/bin/sh\n"
          "if [ -e \"$GUESTKIT_ROOT/etc/motd\" ]; then echo late; else echo before-motd; fi"
          " > \"$GUESTKIT_ROOT/hello.out\"\n",
          0755);
  auto list = boot({"--root", t.path().string(), "config", "--list"});
  CHECK(list.exit_code == 0);
  auto hello = list.out.find("05-hello");
  auto motd = list.out.find("13-set-motd");
  REQUIRE(hello != std::string::npos);
  REQUIRE(motd != std::string::npos);
  CHECK(hello < motd);

  auto run = boot({"--root", t.path().string(), "--log-stderr", "config"});
  INFO(run.err);
  CHECK(run.exit_code == 0);
  CHECK(t.read("hello.out") == "before-motd\n");
  CHECK(t.read("etc/motd").find("guestkit") != std::string::npos);
  CHECK(run.err.find("13-set-motd: changed") != std::string::npos);
  // Second boot: nothing to change.
  auto again = boot({"--root", t.path().string(), "--log-stderr", "config"});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("13-set-motd: unchanged") != std::string::npos);
}

TEST_CASE("list without a stage lists every stage", "[boot-cli]") {
  TempDir t;
  auto list = boot({"--root", t.path().string(), "--list"});
  CHECK(list.exit_code == 0);
  for (const char* s : {"bootstrap:", "mount:", "config:", "postboot:"})
    CHECK(list.out.find(s) != std::string::npos);
}

TEST_CASE("a config typo or wrong type fails with FILE:LINE:COL and exit 2", "[boot-cli]") {
  TempDir t;
  auto file = t.write("etc/guestkit/guestkit.yml", "disk:\n  rooot: /data\nmotd: maybe\n");
  auto run = boot({"--root", t.path().string(), "config"});
  CHECK(run.exit_code == 2);
  CHECK(run.err.find(file.string() + ":2:3: unknown key 'disk.rooot'") != std::string::npos);
  CHECK(run.err.find(file.string() + ":3:7:") != std::string::npos);
  CHECK_FALSE(fs::exists(t.path() / "etc/motd"));  // nothing ran
  CHECK(boot({"--root", t.path().string(), "--list", "config"}).exit_code == 2);
}

TEST_CASE("config FILE replaces the root's guestkit.yml", "[boot-cli]") {
  TempDir t;
  TempDir cfgdir;
  fs::create_directories(t.path() / "etc");
  auto cfg = cfgdir.write("custom.yml", "motd:\n  text: from --config\n");
  auto run = boot({"--root", t.path().string(), "--config", cfg.string(), "config"});
  CHECK(run.exit_code == 0);
  CHECK(t.read("etc/motd") == "from --config\n");
  auto missing = boot({"--root", t.path().string(), "--config", (cfgdir.path() / "nope.yml").string(), "config"});
  CHECK(missing.exit_code == 2);
}

TEST_CASE("motd: false switches the plugin off", "[boot-cli]") {
  TempDir t;
  t.write("etc/guestkit/guestkit.yml", "motd: false\n");
  auto list = boot({"--root", t.path().string(), "--list", "config"});
  CHECK(list.out.find("disabled") != std::string::npos);
  auto run = boot({"--root", t.path().string(), "config"});
  CHECK(run.exit_code == 0);
  CHECK_FALSE(fs::exists(t.path() / "etc/motd"));
}

TEST_CASE("dry-run prints what it would do and changes nothing", "[boot-cli]") {
  TempDir t;
  t.write("etc/motd", "the image's motd\n");
  t.write("etc/guestkit/plugins.d/config/05-hello", "#!/bin/sh\ntouch \"$GUESTKIT_ROOT/ran\"\n", 0755);
  auto before = snapshot(t.path());
  auto run = boot({"--root", t.path().string(), "--dry-run", "config"});
  CHECK(run.exit_code == 0);
  CHECK(run.out.find("would run " + (t.path() / "etc/guestkit/plugins.d/config/05-hello").string()) !=
        std::string::npos);
  CHECK(run.out.find("would write " + (t.path() / "etc/motd").string()) != std::string::npos);
  CHECK(snapshot(t.path()) == before);
}

TEST_CASE("a failing external plugin makes the run partial: exit 1", "[boot-cli]") {
  TempDir t;
  t.write("etc/guestkit/plugins.d/config/20-broken", "#!/bin/sh\necho oops >&2\nexit 7\n", 0755);
  auto run = boot({"--root", t.path().string(), "--log-stderr", "config"});
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("20-broken: oops") != std::string::npos);
  CHECK(run.err.find("20-broken: failed: exited with status 7") != std::string::npos);
  CHECK(fs::exists(t.path() / "etc/motd"));  // 13-set-motd still ran
}

TEST_CASE("boot stages record boot-STAGE.json and report lists plugins slowest first", "[boot-cli]") {
  TempDir t;
  t.write("etc/guestkit/plugins.d/config/50-slow", "#!/bin/sh\nsleep 0.3\n", 0755);
  t.write("etc/guestkit/plugins.d/bootstrap/50-quick", "#!/bin/sh\nexit 0\n", 0755);
  auto none = boot({"--root", t.path().string(), "report"});
  CHECK(none.exit_code == 1);
  CHECK(none.out.find("config: not run since boot") != std::string::npos);

  CHECK(boot({"--root", t.path().string(), "bootstrap"}).exit_code == 0);
  CHECK(boot({"--root", t.path().string(), "config"}).exit_code == 0);
  CHECK(fs::exists(t.path() / "run/guestkit/boot-bootstrap.json"));
  CHECK(fs::exists(t.path() / "run/guestkit/boot-config.json"));
  CHECK(t.read("run/guestkit/boot-config.json").find("\"name\": \"50-slow\"") != std::string::npos);
  auto report = boot({"--root", t.path().string(), "report"});
  INFO(report.out);
  CHECK(report.exit_code == 0);
  CHECK(report.out.rfind("-- guestkit boot report (slowest first) --\n", 0) == 0);
  // The slow plugin comes first, as "   0.3xxxxs (config/50-slow) ran; CPU 0.00xxxs":
  // a sleep takes time, not CPU.
  const auto first_line = report.out.substr(report.out.find('\n') + 1);
  CHECK(first_line.find("(config/50-slow) ran; CPU 0.0") < first_line.find('\n'));
  CHECK(report.out.find("(bootstrap/50-quick) ran") != std::string::npos);
  CHECK(report.out.find("(config/13-set-motd) changed") != std::string::npos);
  CHECK(report.out.find("\nbootstrap: ") != std::string::npos);
  CHECK(report.out.find("\nconfig: 3") != std::string::npos);  // "config: 3xx.x ms, CPU x.x ms, exit 0"
  CHECK(report.out.find(" ms, CPU ") != std::string::npos);
  CHECK(report.out.find("mount: not run since boot") != std::string::npos);
  CHECK(boot({"--root", t.path().string(), "--list", "report"}).exit_code == 64);
}

TEST_CASE("the only and skip options select plugins and refuse unknown names", "[boot-cli]") {
  TempDir t;
  fs::create_directories(t.path() / "etc");
  auto only = boot({"--root", t.path().string(), "--log-stderr", "--only", "02-check-system-files", "config"});
  INFO(only.err);
  CHECK(only.exit_code == 0);
  CHECK(fs::exists(t.path() / "etc/hosts"));
  CHECK_FALSE(fs::exists(t.path() / "etc/motd"));
  CHECK(t.read("run/guestkit/boot-config.json").find("\"partial\": true") != std::string::npos);
  auto skip = boot({"--root", t.path().string(), "--log-stderr", "--skip", "13-set-motd,02-check-system-files", "config"});
  CHECK(skip.exit_code == 0);
  CHECK_FALSE(fs::exists(t.path() / "etc/motd"));
  auto bad = boot({"--root", t.path().string(), "--only", "13-set-motdd", "config"});
  CHECK(bad.exit_code == 64);
  CHECK(bad.err.find("no plugin '13-set-motdd' in stage config") != std::string::npos);
  CHECK(boot({"--root", t.path().string(), "--skip", "01-setup-swap", "config"}).exit_code == 64);
}

TEST_CASE("boot.plugin_timeout kills a hanging external boot plugin", "[boot-cli]") {
  TempDir t;
  t.write("etc/guestkit/guestkit.yml", "boot: {plugin_timeout: 500ms}\n");
  t.write("etc/guestkit/plugins.d/postboot/50-hang", "#!/bin/sh\nsleep 30\n", 0755);
  const auto start = std::chrono::steady_clock::now();
  auto r = boot({"--root", t.path().string(), "--log-stderr", "postboot"});
  const auto took = std::chrono::steady_clock::now() - start;
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("50-hang: failed: timed out after 0.5 s") != std::string::npos);
  CHECK(took < std::chrono::seconds(10));
}

TEST_CASE("the whole config stage on a Debian 12 root settles after one run", "[boot-cli]") {
  if (!core::find_program("ssh-keygen")) GUESTKIT_SKIP("ssh-keygen is not installed (scripts/setup installs openssh-client)");
  TempDir t;
  const fs::path fixtures = fs::path(GUESTKIT_SOURCE_DIR) / "tests/fixtures/etc-debian12";
  fs::create_directories(t.path() / "etc");
  fs::copy(fixtures, t.path() / "etc", fs::copy_options::recursive);
  t.write("etc/debian_version", "12.5\n");
  t.write("usr/share/zoneinfo/Europe/Paris", "TZif2");
  t.write("proc/consoles", "ttyS0 -W- (EC p a) 4:64\n");
  t.write("proc/cmdline", "ro guestkit.instance_id=vm-77 guestkit.tz=Europe/Paris\n");
  auto first = boot({"--root", t.path().string(), "--log-stderr", "config"});
  INFO(first.err);
  CHECK(first.exit_code == 0);
  CHECK(first.err.find("11-config-ssh: changed") != std::string::npos);
  CHECK(first.err.find("03-randomize-cron: changed") != std::string::npos);
  CHECK(first.err.find("07-set-timezone: changed") != std::string::npos);
  CHECK(first.err.find("01-config-console: changed") != std::string::npos);  // inittab
  // /run (the record, its directory's mtime) is the only thing allowed to change.
  auto without_run = [](std::map<std::string, std::string> m) {
    std::erase_if(m, [](const auto& kv) { return kv.first.rfind("run", 0) == 0; });
    return m;
  };
  auto before = without_run(guestkit::test::snapshot(t.path()));
  auto second = boot({"--root", t.path().string(), "--log-stderr", "config"});
  INFO(second.err);
  CHECK(second.exit_code == 0);
  CHECK(second.err.find(": changed") == std::string::npos);
  auto after = without_run(guestkit::test::snapshot(t.path()));
  for (const auto& [path, value] : after) {
    INFO(path);
    CHECK(before[path] == value);
  }
  CHECK(after.size() == before.size());
}
