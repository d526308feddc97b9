// The agent's configuration cache (/run/guestkit/agent-config.cache) carries agent.auth
// and agent.key_file: a cache that anyone but its owner could have written must never
// decide them. The real agent, its real configuration under --root, a planted cache.

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/config.hpp"
#include "core/config_cache.hpp"
#include "core/paths.hpp"
#include "tests/integration/agent_fixture.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
namespace gd = guestkit::core::detail;
namespace gt = guestkit::test;
using namespace std::chrono_literals;

namespace {

// Starts guestkit-agent on a unix socket with the root's own configuration (no
// --config: the cache is in play), sends a clear (keyless) set-hostname, stops it.
gc::ExecResult clear_order(const gt::AgentLab& lab, const std::string& hostname) {
  const gt::UnixListener agent(lab);
  REQUIRE(agent.ready());
  return lab.ctl({"--connect", agent.connect_spec(), "set-hostname", hostname}, {}, false);
}

}  // namespace

TEST_CASE("agent ignores a planted world-writable config cache that turns auth off",
          "[agent-xinetd][config]") {
  gt::AgentLab lab;  // for the root, its agent.key and the tools; its xinetd stays idle
  lab.tmp().write("root/etc/guestkit/agent.yml", "agent:\n  auth: key\n  allow_from: [unix]\n");
  // Sources older than the 2 s the stamp waits for, so a cache may be used and written.
  std::this_thread::sleep_for(2100ms);

  auto root = gc::Root::open(lab.root());
  REQUIRE(root);
  const std::vector<std::string> extra{gc::paths::kAgentConfigFile};
  gc::ConfigLoadOptions plain;
  plain.extra_files = extra;
  auto config = gc::load_config(*root, plain);
  REQUIRE(config);
  REQUIRE(config->agent.auth == "key");
  auto stamp = gd::stamp_config_sources(*root, plain.legacy, extra);
  REQUIRE(stamp);
  REQUIRE(stamp->settled);
  gc::Config forged = *config;
  forged.agent.auth = "none";
  const std::string cache = "root/run/guestkit/agent-config.cache";
  const auto plant = [&](mode_t mode) {
    std::filesystem::remove(lab.tmp().path() / cache);
    lab.tmp().write(cache, stamp->text + "--\n" + gd::encode_config(forged), mode);
    REQUIRE(::chmod((lab.tmp().path() / cache).c_str(), mode) == 0);
  };

  // World-writable: ignored, so the keyless order is refused, and the cache rebuilt.
  plant(0666);
  const auto refused = clear_order(lab, "forged");
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code != 0);
  CHECK(lab.root_file("/etc/hostname") != "forged\n");
  CHECK(lab.tmp().read("listen.log").find("agent.auth is none") == std::string::npos);
  struct stat st {};
  REQUIRE(::lstat((lab.tmp().path() / cache).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(lab.tmp().read(cache).find("agent.auth=key\n") != std::string::npos);

  // The same bytes as the agent's own 0600 file are honoured (what a root-owned cache is
  // for): the refusal above came from the file's mode, nothing else.
  plant(0600);
  const auto taken = clear_order(lab, "trusted");
  INFO(taken.out << taken.err);
  CHECK(taken.exit_code == 0);
  CHECK(lab.root_file("/etc/hostname") == "trusted\n");
}
