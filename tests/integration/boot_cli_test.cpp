// guestkit-boot as a user runs it: the real binary on a throwaway root.

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "core/exec.hpp"
#include "tests/support.hpp"

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
