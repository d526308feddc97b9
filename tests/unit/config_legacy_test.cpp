// The legacy /etc/default/gandi flags (parsed, never run) and parse_duration.

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/paths.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
using namespace std::chrono_literals;
using Lines = std::vector<std::string>;

namespace {

gc::Config legacy(const std::string& text, gc::Config config = {}) {
  gc::apply_legacy(config, text, "gandi");
  return config;
}

// The on/off CONFIG_ flags and the feature each drives, as guestkit.yml(5) tells admins
// ("*sysctl*" ... "Legacy: *CONFIG_SYSCTL*", "*timezone.enabled*" ... "Legacy:
// *CONFIG_TIMEZONE*"), not copied from config_legacy.cpp's table: a flag mapped to
// another switch in the code, or in the page, fails "maps every CONFIG_ variable".
std::vector<std::pair<std::string, std::string>> documented_feature_flags() {
  std::ifstream in(std::string(GUESTKIT_SOURCE_DIR) + "/config/man/guestkit.yml.5.scd.in");
  REQUIRE(in);
  std::vector<std::pair<std::string, std::string>> flags;
  const std::regex heading(R"(\*([a-z_]+)(\.enabled)?\*( \(.*)?)");
  const std::regex flag(R"(Legacy:\s+\*(CONFIG_[A-Z_]+)\*)");
  std::string feature, text, line;
  bool in_options = false;
  const auto entry_done = [&] {
    std::smatch m;
    if (!feature.empty() && std::regex_search(text, m, flag)) flags.emplace_back(m[1], feature);
    feature.clear();
    text.clear();
  };
  while (std::getline(in, line)) {
    if (line.starts_with("# ")) in_options = line == "# OPTIONS";
    if (!in_options) continue;
    if (line.starts_with("*") || line.starts_with("#")) {
      entry_done();
      std::smatch m;
      // "*sysctl*" (a switch-only feature) or "*disk.enabled* (boolean, ...)".
      if (std::regex_match(line, m, heading) && (m[2].matched || !m[3].matched)) feature = m[1];
    } else {
      text += " " + line;
    }
  }
  entry_done();
  return flags;
}

std::string shipped_guestkit_yml() {
  std::ifstream in(std::string(GUESTKIT_SOURCE_DIR) + "/config/guestkit.yml");
  std::stringstream text;
  text << in.rdbuf();
  REQUIRE(in.good());
  return text.str();
}

}  // namespace

TEST_CASE("config legacy maps every CONFIG_ variable", "[config]") {
  const auto flags = documented_feature_flags();
  CHECK(flags.size() >= 10);
  for (const auto& [variable, feature] : flags) {
    INFO(variable);
    const auto off = legacy(std::string(variable) + "=0\n");
    CHECK_FALSE(off.feature_enabled(feature));
    CHECK(off.warnings.empty());
    // Only that one switch moved.
    int disabled = 0;
    for (const auto& [v, f] : flags) disabled += off.feature_enabled(f) ? 0 : 1;
    CHECK(disabled == 1);
    CHECK(legacy(std::string(variable) + "=1\n", off).feature_enabled(feature));
  }
  const auto c = legacy(R"(CONFIG_MULTIQUEUE=no
CONFIG_MOUNT_PARAMS="ro,noatime"
CONFIG_DISK_ROOT='/data'
CONFIG_NODHCP="eth1, eth2  eth3,"
)");
  CHECK(c.warnings.empty());
  CHECK_FALSE(c.iface.multiqueue);
  CHECK(c.disk.mount_options == "ro,noatime");
  CHECK(c.disk.root == "/data");
  CHECK(c.iface.no_dhcp == Lines{"eth1", "eth2", "eth3"});
  CHECK(legacy("CONFIG_NODHCP=\n", c).iface.no_dhcp.empty());
  // Empty mount options keep the defaults rather than mounting with none at all.
  CHECK(legacy("CONFIG_MOUNT_PARAMS=\n").disk.mount_options == "rw,nosuid,nodev,noatime");
}

TEST_CASE("config legacy flag spellings", "[config]") {
  for (const char* on : {"1", "yes", "YES", "true", "True", "on", "\"on\"", "'1'", "\" yes \""}) {
    INFO(on);
    gc::Config off;
    off.motd.enabled = false;
    const auto c = legacy(std::string("CONFIG_MOTD=") + on + "\n", off);
    CHECK(c.motd.enabled);
    CHECK(c.warnings.empty());
  }
  for (const char* no : {"0", "no", "No", "false", "FALSE", "off", "'off'"}) {
    INFO(no);
    CHECK_FALSE(legacy(std::string("CONFIG_MOTD=") + no + "\n").motd.enabled);
  }
}

TEST_CASE("config legacy shell subset: export, quotes, comments", "[config]") {
  const auto c = legacy(
      "# gandi flags\n"
      "\n"
      "   export CONFIG_MOTD=0   # no motd\n"
      "CONFIG_SSHD=\"no\" CONFIG_CRON='no';CONFIG_HOSTNAME=n\"o\"\n"
      "export CONFIG_CONSOLE CONFIG_SYSCTL=off\r\n"
      "CONFIG_DISK_ROOT=/srv/my\\ disks#1\n"
      "CONFIG_MOUNT_PARAMS=\"rw,\\\n"
      "noexec\"\n"
      "CONFIG_NODHCP='eth1\n"
      "eth2'\n"
      "CONFIG_TIMEZONE=\\\n"
      "0\n"
      "CONFIG_NAMESERVER=\"$\"\n");
  CHECK_FALSE(c.motd.enabled);
  CHECK_FALSE(c.sshd.enabled);
  CHECK_FALSE(c.cron.enabled);
  CHECK_FALSE(c.hostname.enabled);
  CHECK(c.console.enabled);
  CHECK_FALSE(c.sysctl.enabled);
  CHECK(c.disk.root == "/srv/my disks#1");
  CHECK(c.disk.mount_options == "rw,noexec");
  CHECK(c.iface.no_dhcp == Lines{"eth1", "eth2"});
  CHECK_FALSE(c.timezone.enabled);
  CHECK(
      c.warnings ==
      Lines{"gandi:13: CONFIG_NAMESERVER='$' is not 1/0, yes/no, true/false or on/off, ignoring"});
}

TEST_CASE("config legacy bad values are warnings and change nothing", "[config]") {
  const auto c = legacy(
      "CONFIG_MOTD=maybe\n"
      "CONFIG_SSHD=\n"
      "CONFIG_DISK_ROOT=srv\n"
      "CONFIG_DISK_ROOT=/srv/../etc\n"
      "CONFIG_MULTIQUEUE=2\n"
      "CONFIG_CRON=0 reboot\n"
      "CONFIG_CONSOLE=0 | tee x\n"
      "CONFIG_SYSCTL\n"
      "CONFIG_HOSTNAME=0\n"
      "CONFIG_NETWORK=\"0\n"
      "CONFIG_NAMESERVER=0\n");
  CHECK(
      c.warnings ==
      Lines{
          "gandi:1: CONFIG_MOTD='maybe' is not 1/0, yes/no, true/false or on/off, ignoring",
          "gandi:2: CONFIG_SSHD='' is not 1/0, yes/no, true/false or on/off, ignoring",
          "gandi:3: CONFIG_DISK_ROOT='srv' is not an absolute path without '..', ignoring",
          "gandi:4: CONFIG_DISK_ROOT='/srv/../etc' is not an absolute path without '..', ignoring",
          "gandi:5: CONFIG_MULTIQUEUE='2' is not 1/0, yes/no, true/false or on/off, ignoring",
          "gandi:6: not a plain variable assignment (no shell is run), ignoring",
          "gandi:7: unsupported shell syntax '|', ignoring",
          "gandi:8: not a plain variable assignment (no shell is run), ignoring",
          "gandi:10: unterminated quote, ignoring the rest of the file",
      });
  // Good lines still count; nothing after the unterminated quote does.
  CHECK_FALSE(c.hostname.enabled);
  CHECK(c.nameserver.enabled);
  CHECK(c.motd.enabled);
  CHECK(c.sshd.enabled);
  CHECK(c.cron.enabled);
  CHECK(c.console.enabled);
  CHECK(c.network.enabled);
  CHECK(c.disk.root == "/srv");
  CHECK(c.iface.multiqueue);
}

TEST_CASE("config legacy never runs a shell", "[config]") {
  auto tmp = guestkit::test::TempDir();
  const auto marker = tmp.path() / "ran";
  const std::string touch = "touch " + marker.string();
  const auto c = legacy("CONFIG_MOTD=$(" + touch + ")\n" +     //
                        "CONFIG_SSHD=\"`" + touch + "`\"\n" +  //
                        "CONFIG_CRON=$HOME\n" +                //
                        "CONFIG_CONSOLE=${X:-0}\n" +           //
                        "CONFIG_HOSTNAME='$(reboot)'\n" +      //
                        "PATH=$PATH:/x\n" +                    // not ours: silent
                        "FOO=$(reboot)\n" +                    //
                        "UNKNOWN=1\n");
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK(c.warnings ==
        Lines{
            "gandi:1: CONFIG_MOTD: refusing to expand $(...) (no shell is run), ignoring",
            "gandi:2: CONFIG_SSHD: refusing to expand `...` (no shell is run), ignoring",
            "gandi:3: CONFIG_CRON: refusing to expand $HOME (no shell is run), ignoring",
            "gandi:4: CONFIG_CONSOLE: refusing to expand ${...} (no shell is run), ignoring",
            "gandi:5: CONFIG_HOSTNAME='$(reboot)' is not 1/0, yes/no, true/false or on/off, "
            "ignoring",
        });
  CHECK(c.motd.enabled);
  CHECK(c.sshd.enabled);
  CHECK(c.cron.enabled);
  CHECK(c.console.enabled);
  CHECK(c.hostname.enabled);
}

TEST_CASE("config legacy file under the root and its precedence", "[config]") {
  auto tmp = guestkit::test::TempDir();
  const auto root = tmp.root();

  SECTION("/etc/sysconfig/gandi when there is no /etc/default/gandi") {
    tmp.write("etc/sysconfig/gandi", "CONFIG_MOTD=0\nCONFIG_SSHD=maybe\n");
    auto c = gc::load_config(root);
    REQUIRE(c.ok());
    CHECK_FALSE(c->motd.enabled);
    CHECK(c->sources == Lines{root.display(gc::paths::kLegacySysconfig)});
    CHECK(c->warnings == Lines{root.display(gc::paths::kLegacySysconfig) +
                               ":2: CONFIG_SSHD='maybe' is not 1/0, yes/no, true/false or on/off, "
                               "ignoring"});
  }
  SECTION("/etc/default/gandi wins over /etc/sysconfig/gandi") {
    tmp.write("etc/sysconfig/gandi", "CONFIG_MOTD=0\n");
    tmp.write("etc/default/gandi", "CONFIG_CRON=0\n");
    auto c = gc::load_config(root);
    REQUIRE(c.ok());
    CHECK(c->motd.enabled);
    CHECK_FALSE(c->cron.enabled);
    CHECK(c->sources == Lines{root.display(gc::paths::kLegacyDefault)});
  }
  SECTION("YAML wins over legacy, key by key") {
    tmp.write("etc/default/gandi", "CONFIG_MOTD=0\nCONFIG_CRON=0\nCONFIG_DISK_ROOT=/legacy\n");
    tmp.write("etc/guestkit/guestkit.yml", "motd: true\n");
    tmp.write("etc/guestkit/guestkit.yml.d/x.yml", "disk: {root: /yaml}\n");
    auto c = gc::load_config(root);
    REQUIRE(c.ok());
    CHECK(c->motd.enabled);
    CHECK_FALSE(c->cron.enabled);
    CHECK(c->disk.root == "/yaml");
    CHECK(c->sources == Lines{root.display(gc::paths::kLegacyDefault),
                              root.display(gc::paths::kConfigFile),
                              root.display("/etc/guestkit/guestkit.yml.d/x.yml")});
  }
  SECTION("legacy = false skips it") {
    tmp.write("etc/default/gandi", "CONFIG_MOTD=0\n");
    gc::ConfigLoadOptions options;
    options.legacy = false;
    auto c = gc::load_config(root, options);
    REQUIRE(c.ok());
    CHECK(c->motd.enabled);
    CHECK(c->sources.empty());
  }
}

// What an image that had gandi-hosting-vm2 looks like once guestkit is installed: the
// customer's /etc/default/gandi and the guestkit.yml the package ships. Each flag must
// keep its effect: the shipped file states the defaults without setting anything.
TEST_CASE("config legacy flags win over the shipped guestkit.yml", "[config]") {
  auto tmp = guestkit::test::TempDir();
  const auto root = tmp.root();
  tmp.write("etc/guestkit/guestkit.yml", shipped_guestkit_yml());
  const std::string customer = R"(CONFIG_MOTD=0
CONFIG_TIMEZONE=0
CONFIG_SYSCTL=0
CONFIG_SSHD=0
CONFIG_CONSOLE=0
CONFIG_HOSTNAME=0
CONFIG_NAMESERVER=0
CONFIG_ALLOW_MOUNT=0
CONFIG_CRON=0
CONFIG_MOUNT_PARAMS="ro,nosuid,nodev,noexec"
CONFIG_DISK_ROOT="/data"
CONFIG_NODHCP="eth1"
CONFIG_MULTIQUEUE=0
CONFIG_NETWORK=0
GANDI_PLUGIN_DIR=/etc/gandi/plugins.d
GANDI_HOOK_DIR=/etc/gandi/my-hooks/
)";
  const auto check = [&](const gc::Config& c) {
    CHECK(c.warnings.empty());
    for (const auto& [variable, feature] : documented_feature_flags()) {
      INFO(variable);
      CHECK_FALSE(c.feature_enabled(feature));
    }
    CHECK(c.disk.mount_options == "ro,nosuid,nodev,noexec");
    CHECK(c.disk.root == "/data");
    CHECK(c.iface.no_dhcp == Lines{"eth1"});
    CHECK_FALSE(c.iface.multiqueue);
    CHECK(c.legacy_hooks_dir == "/etc/gandi/my-hooks");
  };
  SECTION("/etc/default/gandi") {
    tmp.write("etc/default/gandi", customer);
    auto c = gc::load_config(root);
    INFO((c.ok() ? "" : c.error().context));
    REQUIRE(c.ok());
    check(*c);
    CHECK(c->sources ==
          Lines{root.display(gc::paths::kLegacyDefault), root.display(gc::paths::kConfigFile)});
  }
  SECTION("guestkit's copy, once the old package's purge deleted the original") {
    tmp.write("etc/guestkit/legacy/gandi", customer);
    auto c = gc::load_config(root);
    REQUIRE(c.ok());
    check(*c);
    CHECK(c->sources ==
          Lines{root.display(gc::paths::kLegacyCopy), root.display(gc::paths::kConfigFile)});
  }
  SECTION("the original, while it exists, wins over the copy (edits after the takeover count)") {
    tmp.write("etc/guestkit/legacy/gandi", "CONFIG_MOTD=1\n");
    tmp.write("etc/default/gandi", customer);
    auto c = gc::load_config(root);
    REQUIRE(c.ok());
    check(*c);
  }
  SECTION("the admin's YAML still wins over the flags") {
    tmp.write("etc/default/gandi", customer);
    tmp.write("etc/guestkit/guestkit.yml.d/50-admin.yml", "motd: true\n");
    auto c = gc::load_config(root);
    REQUIRE(c.ok());
    CHECK(c->motd.enabled);
    CHECK_FALSE(c->cron.enabled);
  }
}

TEST_CASE("config legacy GANDI_HOOK_DIR must be an absolute path", "[config]") {
  const auto c = legacy("GANDI_HOOK_DIR=hooks\nGANDI_HOOK_DIR=/etc/../x\n");
  CHECK(c.legacy_hooks_dir == "/etc/gandi/hooks");
  CHECK(c.warnings.size() == 2);
  CHECK(legacy("GANDI_HOOK_DIR='/opt/h//'\n").legacy_hooks_dir == "/opt/h");
}

TEST_CASE("config parse_duration", "[config]") {
  using ms = std::chrono::milliseconds;
  const std::pair<const char*, std::optional<ms>> cases[] = {
      {"120", 120s},
      {"120s", 120s},
      {"500ms", 500ms},
      {"2m", 2min},
      {"1h", 1h},
      {"30 s", 30s},
      {" 45s ", 45s},
      {"1.5s", 1500ms},
      {"0.25m", 15s},
      {"1.5", 1500ms},
      {"0", 0ms},
      {"0.0001s", 0ms},
      {"007s", 7s},
      {"2.0000000001h", 2h},
      {"", std::nullopt},
      {" ", std::nullopt},
      {"-5s", std::nullopt},
      {"+5s", std::nullopt},
      {"s", std::nullopt},
      {"5x", std::nullopt},
      {"5 sec", std::nullopt},
      {"5S", std::nullopt},
      {"1.s", std::nullopt},
      {".5s", std::nullopt},
      {"1m30s", std::nullopt},
      {"1e3", std::nullopt},
      {"99999999999999999999", std::nullopt},  // overflows int64 while reading
      {"9223372036854775807ms", ms(9223372036854775807)},
      {"9223372036854775807s", std::nullopt},  // overflows when scaled
      {"5 5s", std::nullopt},
  };
  for (const auto& [text, expected] : cases) {
    INFO('"' << text << '"');
    CHECK(gc::parse_duration(text) == expected);
  }
}
