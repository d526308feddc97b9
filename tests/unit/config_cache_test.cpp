// The compiled configuration cache: the codec is exact and strict, the stamp notices
// every change of a source, and load_config uses the cache only when it is current.

#include "core/config_cache.hpp"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>

#include "core/config.hpp"
#include "core/paths.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
namespace gd = guestkit::core::detail;
using guestkit::test::TempDir;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kCache = gc::paths::kConfigCache;

// A config where every kind of value differs from its default, with the bytes the
// codec must escape.
gc::Config unusual_config() {
  gc::Config c;
  c.plugins.timeout = 1500ms;
  c.plugins.enabled = {{"13-set-motd", false}, {"20-x_Y", true}};
  c.hooks_dir = "/opt/hooks dir";
  c.legacy_hooks_dir = "/opt/old hooks";
  c.disk.enabled = false;
  c.disk.match = {"vd*", "", "a b=c:d\\e\nf"};
  c.disk.ignore = {};
  c.disk.root = "/data";
  c.disk.owner = "0";
  c.disk.group = "1001";
  c.disk.mode = 0775;
  c.disk.tool_timeout = 7min;
  c.iface.backend = "networkd";
  c.iface.route_metric = 77;
  c.motd.text = "line one\nline two\t\x01\xff";
  c.cron.enabled = false;
  c.boot.plugin_timeout = 90s;
  c.boot.root_device = "/dev/vda1";
  c.swap.device = "/dev/vdz";
  c.timezone.zone = "Etc/GMT+5";
  c.sshd.permit_root_login = "no";
  c.ext_checks.max_mount_count = 12;
  c.postboot.timeout = 3h;
  c.grow_root.enabled = false;
  c.memory.online_policy = gc::MemoryPolicy::online_movable;
  c.memory.movable_ratio = 2.5;
  c.sources = {"/r/etc/guestkit/guestkit.yml"};
  c.warnings = {"/r/etc/default/gandi:3: odd, ignoring"};
  return c;
}

// The stamp as if it were taken a minute from now: every source counts as settled.
gd::ConfigStamp settled_stamp(const gc::Root& root) {
  auto stamp = gd::stamp_config_sources(root, true, {});
  REQUIRE(stamp.ok());
  stamp->settled = true;
  return *stamp;
}

// Rewrites a file with same-size content, as an editor saving in place would.
void rewrite_in_place(const std::filesystem::path& file, const std::string& content) {
  FILE* f = std::fopen(file.c_str(), "r+");
  REQUIRE(f);
  REQUIRE(std::fwrite(content.data(), 1, content.size(), f) == content.size());
  std::fclose(f);
}

}  // namespace

TEST_CASE("config cache codec round-trips every kind of value exactly", "[config][cache]") {
  const gc::Config c = unusual_config();
  const std::string text = gd::encode_config(c);
  CHECK(text.find("disk.root=/data\n") != std::string::npos);
  auto back = gd::decode_config(text);
  REQUIRE(back);
  CHECK(gd::encode_config(*back) == text);
  CHECK(back->disk.match == c.disk.match);
  CHECK(back->motd.text == c.motd.text);
  CHECK(back->hooks_dir == "/opt/hooks dir");
  CHECK(back->legacy_hooks_dir == "/opt/old hooks");
  CHECK(back->disk.mode == 0775);
  CHECK(back->memory.movable_ratio == 2.5);
  CHECK(back->memory.online_policy == gc::MemoryPolicy::online_movable);
  CHECK(back->plugins.enabled == c.plugins.enabled);
  CHECK(back->plugins.timeout == 1500ms);
  CHECK_FALSE(back->disk.enabled);
  CHECK_FALSE(back->cron.enabled);
  CHECK(back->sources == c.sources);
  CHECK(back->warnings == c.warnings);
  // Defaults differ from the unusual config, and survive too.
  auto defaults = gd::decode_config(gd::encode_config(gc::Config{}));
  REQUIRE(defaults);
  CHECK(defaults->disk.root == "/srv");
  CHECK(defaults->disk.match == gc::Config{}.disk.match);
}

TEST_CASE("config cache codec refuses anything but a complete, valid body", "[config][cache]") {
  const std::string good = gd::encode_config(gc::Config{});
  REQUIRE(gd::decode_config(good));
  const auto without = [&](std::string_view key) {
    std::string text = good;
    const auto at = text.find("\n" + std::string(key) + "=");
    REQUIRE(at != std::string::npos);
    text.erase(at + 1, text.find('\n', at + 1) - at);
    return text;
  };
  const auto replaced = [&](std::string_view key, std::string_view value) {
    std::string text = good;
    const auto at = text.find("\n" + std::string(key) + "=");
    REQUIRE(at != std::string::npos);
    const auto start = at + 2 + key.size();
    text.replace(start, text.find('\n', start) - start, value);
    return text;
  };
  CHECK_FALSE(gd::decode_config(without("disk.root")));             // a schema key missing
  CHECK_FALSE(gd::decode_config(good + "disk.rooot=/x\n"));         // a key it does not know
  CHECK_FALSE(gd::decode_config(good + "disk.root=/x\n"));          // twice
  CHECK_FALSE(gd::decode_config(good.substr(0, good.size() - 1)));  // cut short
  CHECK_FALSE(gd::decode_config(replaced("disk.enabled", "yes")));
  CHECK_FALSE(gd::decode_config(replaced("cpu.online_timeout", "2s")));
  CHECK_FALSE(gd::decode_config(replaced("iface.route_metric", "-1")));
  CHECK_FALSE(gd::decode_config(replaced("memory.online_policy", "sometimes")));
  CHECK_FALSE(gd::decode_config(replaced("disk.owner", "bad\\x4")));  // half an escape
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::uint64_t bits;
  std::memcpy(&bits, &nan, sizeof bits);
  CHECK_FALSE(gd::decode_config(replaced("memory.movable_ratio", std::to_string(bits))));
  CHECK(gd::decode_config(replaced("disk.root", "/elsewhere"))->disk.root == "/elsewhere");
}

TEST_CASE("config cache: load_config uses it only while the sources are unchanged",
          "[config][cache]") {
  TempDir tmp;
  const auto root = tmp.root();
  const auto file = tmp.write("etc/guestkit/guestkit.yml", "disk:\n  root: /data\n");

  gc::ConfigLoadOptions cached;
  cached.cache = true;
  // Just written: the file is not settled, so nothing is cached yet.
  auto first = gc::load_config(root, cached);
  REQUIRE(first.ok());
  CHECK(first->disk.root == "/data");
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "run/guestkit/config.cache"));

  // A cache for the current stamp whose content differs from the YAML: if load_config
  // returns it, it did not parse.
  gc::Config planted = *first;
  planted.disk.root = "/from-cache";
  REQUIRE(gd::write_config_cache(root, kCache, settled_stamp(root), planted).ok());
  struct stat st {};
  REQUIRE(::stat((tmp.path() / "run/guestkit/config.cache").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(gc::load_config(root, cached)->disk.root == "/from-cache");
  // Without the option, the cache is not consulted.
  CHECK(gc::load_config(root)->disk.root == "/data");
  // --config FILE never uses it either.
  gc::ConfigLoadOptions with_file = cached;
  with_file.file = file;
  CHECK(gc::load_config(root, with_file)->disk.root == "/data");

  SECTION("an edit of the same size changes the stamp") {
    rewrite_in_place(file, "disk:\n  root: /dat2\n");
    CHECK(gc::load_config(root, cached)->disk.root == "/dat2");
  }
  SECTION("a new drop-in changes the stamp") {
    tmp.write("etc/guestkit/guestkit.yml.d/10-x.yml", "disk: {root: /dropin}\n");
    CHECK(gc::load_config(root, cached)->disk.root == "/dropin");
  }
  SECTION("a legacy file appearing changes the stamp") {
    tmp.write("etc/default/gandi", "CONFIG_MOTD=0\n");
    auto loaded = gc::load_config(root, cached);
    CHECK(loaded->disk.root == "/data");
    CHECK_FALSE(loaded->motd.enabled);
  }
  SECTION("guestkit's copy of the legacy file appearing changes the stamp") {
    // What a purge of gandi-hosting-vm2 leaves: only the copy the takeover made.
    tmp.write("etc/guestkit/legacy/gandi", "CONFIG_CRON=0\n");
    auto loaded = gc::load_config(root, cached);
    CHECK(loaded->disk.root == "/data");
    CHECK_FALSE(loaded->cron.enabled);
  }
  SECTION("an edit that breaks the file is reported, not hidden by the cache") {
    rewrite_in_place(file, "disk:\n  rooo: /data\n");
    auto loaded = gc::load_config(root, cached);
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().message().find("unknown key 'disk.rooo'") != std::string::npos);
  }
  SECTION("a damaged cache is ignored") {
    tmp.write("run/guestkit/config.cache", "garbage\n");
    CHECK(gc::load_config(root, cached)->disk.root == "/data");
  }
}

TEST_CASE("config cache: a load with settled sources writes it, and the next load reads it",
          "[config][cache]") {
  TempDir tmp;
  const auto root = tmp.root();
  const auto file = tmp.write("etc/guestkit/guestkit.yml", "cpu: {online_timeout: 5s}\n");
  auto stamp = gd::stamp_config_sources(root, true, {});
  REQUIRE(stamp.ok());
  CHECK_FALSE(stamp->settled);  // its ctime is now
  CHECK(stamp->text.find("/etc/guestkit/guestkit.yml ") != std::string::npos);
  CHECK(stamp->text.find("/etc/default/gandi absent") != std::string::npos);

  REQUIRE(gd::write_config_cache(root, kCache, *stamp, *gc::load_config(root)).ok());
  auto read = gd::read_config_cache(root, kCache, *stamp);
  REQUIRE(read);
  CHECK(read->cpu.online_timeout == 5s);
  // Another stamp (here: without the legacy files) does not match.
  auto other = gd::stamp_config_sources(root, false, {});
  REQUIRE(other.ok());
  CHECK_FALSE(gd::read_config_cache(root, kCache, *other));
}

TEST_CASE("config cache: a planted symlink is neither read nor written through",
          "[config][cache]") {
  TempDir tmp;
  const auto root = tmp.root();
  tmp.write("etc/guestkit/guestkit.yml", "disk: {root: /data}\n");
  const auto stamp = settled_stamp(root);
  // A valid cache, but reached through a link: refused.
  tmp.write("elsewhere", stamp.text + "--\n" + gd::encode_config(*gc::load_config(root)));
  std::filesystem::create_directories(tmp.path() / "run/guestkit");
  std::filesystem::create_symlink("/elsewhere", tmp.path() / "run/guestkit/config.cache");
  CHECK_FALSE(gd::read_config_cache(root, kCache, stamp));
  // Writing replaces the link itself; the file it pointed at is untouched.
  const std::string before = tmp.read("elsewhere");
  REQUIRE(gd::write_config_cache(root, kCache, stamp, gc::Config{}).ok());
  CHECK(tmp.read("elsewhere") == before);
  CHECK_FALSE(std::filesystem::is_symlink(tmp.path() / "run/guestkit/config.cache"));
  CHECK(gd::read_config_cache(root, kCache, stamp));
}

TEST_CASE("config cache: the agent's sources (with agent.yml) have their own copy",
          "[config][cache]") {
  TempDir tmp;
  const auto root = tmp.root();
  tmp.write("etc/guestkit/guestkit.yml", "disk: {root: /data}\n");
  const auto agent_yml = tmp.write("etc/guestkit/agent.yml", "agent: {max_message: 4096}\n");
  const std::vector<std::string> extra{gc::paths::kAgentConfigFile};
  CHECK(gd::config_cache_path(extra) == gc::paths::kAgentConfigCache);
  CHECK(gd::config_cache_path({}) == gc::paths::kConfigCache);

  auto stamp = gd::stamp_config_sources(root, true, extra);
  REQUIRE(stamp.ok());
  CHECK(stamp->text.find("/etc/guestkit/agent.yml ") != std::string::npos);
  // The helpers' stamp does not cover agent.yml, so it can never match the agent's.
  CHECK(gd::stamp_config_sources(root, true, {})->text != stamp->text);

  // A settled copy planted for the agent's stamp is what the agent's load returns,
  // and the helpers' load does not see it.
  stamp->settled = true;
  gc::ConfigLoadOptions agent;
  agent.cache = true;
  agent.extra_files = extra;
  auto loaded = gc::load_config(root, agent);
  REQUIRE(loaded.ok());
  CHECK(loaded->agent.max_message == 4096);
  gc::Config planted = *loaded;
  planted.agent.max_message = 7777;
  REQUIRE(gd::write_config_cache(root, gc::paths::kAgentConfigCache, *stamp, planted).ok());
  CHECK(gc::load_config(root, agent)->agent.max_message == 7777);
  gc::ConfigLoadOptions helpers;
  helpers.cache = true;
  CHECK(gc::load_config(root, helpers)->agent.max_message != 7777);
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "run/guestkit/config.cache"));

  // An edit of agent.yml (same size) changes the agent's stamp: parsed again.
  rewrite_in_place(agent_yml, "agent: {max_message: 8192}\n");
  CHECK(gc::load_config(root, agent)->agent.max_message == 8192);
}

TEST_CASE("config cache: a planted world-writable cache that turns auth off is ignored and rebuilt",
          "[config][cache]") {
  TempDir tmp;
  const auto root = tmp.root();
  tmp.write("etc/guestkit/guestkit.yml", "disk: {root: /data}\n");
  tmp.write("etc/guestkit/agent.yml", "agent: {auth: key}\n");
  const std::vector<std::string> extra{gc::paths::kAgentConfigFile};
  gc::ConfigLoadOptions agent;
  agent.cache = true;
  agent.extra_files = extra;
  auto yaml = gc::load_config(root, agent);
  REQUIRE(yaml.ok());
  REQUIRE(yaml->agent.auth == "key");
  // Sources older than the two seconds the stamp waits for: the load may write a cache.
  std::this_thread::sleep_for(2100ms);
  auto stamp = gd::stamp_config_sources(root, true, extra);
  REQUIRE(stamp.ok());
  REQUIRE(stamp->settled);

  // The forged cache is exact for the current stamp and says auth: none.
  gc::Config forged = *yaml;
  forged.agent.auth = "none";
  const std::string body = stamp->text + "--\n" + gd::encode_config(forged);
  const std::string cache = "run/guestkit/agent-config.cache";
  const auto plant = [&](mode_t mode) {
    std::filesystem::remove(tmp.path() / cache);
    tmp.write(cache, body, mode);
    REQUIRE(::chmod((tmp.path() / cache).c_str(), mode) == 0);  // past the umask
  };
  SECTION("world-writable") {
    plant(0666);
  }
  SECTION("group-readable") {
    plant(0640);
  }
  SECTION("owned by another user") {
    if (::geteuid() != 0) GUESTKIT_SKIP("chown to another user needs root");
    plant(0600);
    REQUIRE(::chown((tmp.path() / cache).c_str(), 65534, 65534) == 0);
  }
  SECTION("a second hard link (a file someone else may reach by another name)") {
    plant(0600);
    std::filesystem::create_hard_link(tmp.path() / cache, tmp.path() / "run/other-name");
  }
  auto loaded = gc::load_config(root, agent);
  REQUIRE(loaded.ok());
  CHECK(loaded->agent.auth == "key");
  // Rebuilt: a new file in its place, 0600, the loader's own, with what the YAML says.
  struct stat st {};
  REQUIRE(::lstat((tmp.path() / cache).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == ::geteuid());
  CHECK(st.st_nlink == 1);
  CHECK(tmp.read(cache).find("agent.auth=key\n") != std::string::npos);
  CHECK(gd::read_config_cache(root, gc::paths::kAgentConfigCache, *stamp)->agent.auth == "key");
}

TEST_CASE("config cache: a well-owned cache holding a value the YAML would refuse is ignored",
          "[config][cache]") {
  TempDir tmp;
  const auto root = tmp.root();
  tmp.write("etc/guestkit/guestkit.yml", "disk: {root: /data}\n");
  const auto stamp = settled_stamp(root);
  const gc::Config good = *gc::load_config(root);
  const std::string encoded = gd::encode_config(good);
  REQUIRE(gd::decode_config(encoded));
  // One line changed at a time, each to something guestkit.yml could never say.
  const std::pair<std::string, std::string> damage[] = {
      {"agent.auth=key", "agent.auth=nothing"},
      {"agent.key_file=", "agent.key_file=relative/"},
      {"agent.key_file=", "agent.key_file=/etc/../"},
      {"agent.max_message=", "agent.max_message=1"},
      {"agent.read_timeout=", "agent.read_timeout=0"},
      {"agent.allow_from=", "agent.allow_from=not-an-address "},
      {"disk.mode=", "disk.mode=99999"},
      {"boot.root_device=", "boot.root_device=/etc/shadow"},
      {"timezone.zone=", "timezone.zone=../../etc/shadow"},
      {"iface.backend=", "iface.backend=shell"},
      {"plugins.enabled=", "plugins.enabled=../x:1 "},
      {"motd.text=", "motd.text=a\\x00b"},
  };
  for (const auto& [from, to] : damage) {
    INFO(to);
    const auto at = encoded.find("\n" + from);
    REQUIRE(at != std::string::npos);
    const auto end = encoded.find('\n', at + 1);
    std::string text = encoded;
    text.replace(at + 1, end - at - 1, to);
    CHECK_FALSE(gd::decode_config(text));
    tmp.write("run/guestkit/config.cache", stamp.text + "--\n" + text, 0600);
    CHECK_FALSE(gd::read_config_cache(root, kCache, stamp));
  }
  // The undamaged text, written the same way, is read: the refusals above are the values.
  tmp.write("run/guestkit/config.cache", stamp.text + "--\n" + encoded, 0600);
  CHECK(gd::read_config_cache(root, kCache, stamp));
}
