// The agent's single ops (set-hostname, set-password, ssh-keys) run through the
// plugin runner like every other trigger: plugins.enabled refuses them, external
// plugins of plugins.d/<op>/ run after the built-in step, and a run record is written.

#include <catch2/catch.hpp>
#include <filesystem>

#include "agent/ops.hpp"
#include "tests/support.hpp"

namespace ga = guestkit::agent;
namespace gc = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::TempDir;
using nlohmann::json;

namespace {

void image(const TempDir& t) {
  t.write("etc/hostname", "debian\n");
  t.write("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n");
  t.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
  // An admin's external plugin for each op: it logs what it was told.
  for (const char* op : {"set-hostname", "set-password", "ssh-keys"})
    t.write(
        std::string("etc/guestkit/plugins.d/") + op + "/50-log",
        "#!/bin/sh\necho \"$GUESTKIT_TRIGGER $GUESTKIT_PLUGIN $GUESTKIT_HOSTNAME$GUESTKIT_USER\" "
        ">> \"$GUESTKIT_ROOT/calls\"\n",
        0755);
}

}  // namespace

TEST_CASE("agent set-hostname runs 10-set-hostname through the runner", "[agent-ops]") {
  TempDir t;
  image(t);
  gc::Config config;
  config.plugins.enabled["10-set-hostname"] = false;
  gc::Context ctx(t.root(), config);
  ga::AgentState state{ctx, "vm-1", {}, true};

  auto refused = ga::run_op(state, "set-hostname", {{"hostname", "web1.example.com"}});
  CHECK_FALSE(refused.ok);
  CHECK(refused.code == "disabled");
  CHECK(refused.message.find("10-set-hostname") != std::string::npos);
  CHECK(t.read("etc/hostname") == "debian\n");
  CHECK_FALSE(fs::exists(t.path() / "calls"));  // nothing ran, not even externals
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/runs/set-hostname.json"));

  ctx.config.plugins.enabled.clear();
  auto done = ga::run_op(state, "set-hostname", {{"hostname", "web1.example.com"}});
  INFO(done.message);
  REQUIRE(done.ok);
  CHECK(done.result["changed"] == true);
  CHECK(done.result["hostname"] == "web1.example.com");
  CHECK(t.read("etc/hostname") == "web1.example.com\n");
  CHECK(t.read("calls") == "set-hostname 50-log web1.example.com\n");
  const auto record = json::parse(t.read("run/guestkit/runs/set-hostname.json"));
  CHECK(record["trigger"] == "set-hostname");
  REQUIRE(record["plugins"].size() == 2);
  CHECK(record["plugins"][0]["name"] == "10-set-hostname");
  CHECK(record["plugins"][0]["status"] == "changed");
  CHECK(record["plugins"][1]["name"] == "50-log");

  // A mask (a link to /dev/null in /etc/guestkit/plugins.d/TRIGGER) refuses it too.
  fs::create_symlink("/dev/null", t.path() / "etc/guestkit/plugins.d/set-hostname/10-set-hostname");
  auto masked = ga::run_op(state, "set-hostname", {{"hostname", "web2"}});
  CHECK(masked.code == "disabled");
  CHECK(t.read("etc/hostname") == "web1.example.com\n");
}

TEST_CASE("agent set-password and ssh-keys are refused when their step is off", "[agent-ops]") {
  TempDir t;
  image(t);
  gc::Config config;
  config.plugins.enabled["20-set-root-password"] = false;
  config.plugins.enabled["40-install-ssh-keys"] = false;
  gc::Context ctx(t.root(), config);
  ga::AgentState state{ctx, "vm-1", {}, true};
  const std::string shadow = "root:*:19000:0:99999:7:::\n";
  t.write("etc/shadow", shadow, 0640);

  auto password =
      ga::run_op(state, "set-password", {{"user", "root"}, {"password", "Pa55-word-1"}});
  CHECK(password.code == "disabled");
  CHECK(password.message.find("20-set-root-password") != std::string::npos);
  CHECK(t.read("etc/shadow") == shadow);

  const std::string key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZ4nErOkbPYMFEq2kqnVH8pj6zGUl75rD69BUPhJUDT u@ed25519";
  auto keys = ga::run_op(state, "ssh-keys", {{"user", "root"}, {"add", {key}}});
  CHECK(keys.code == "disabled");
  CHECK(keys.message.find("40-install-ssh-keys") != std::string::npos);
  CHECK_FALSE(fs::exists(t.path() / "root/.ssh/authorized_keys"));
  CHECK_FALSE(fs::exists(t.path() / "calls"));
  // Listing changes nothing: answered with the step off.
  fs::create_directories(t.path() / "root");
  auto list = ga::run_op(state, "ssh-keys", {{"user", "root"}, {"list", true}});
  INFO(list.message);
  CHECK(list.ok);

  ctx.config.plugins.enabled.clear();
  fs::create_directories(t.path() / "root");
  auto added = ga::run_op(state, "ssh-keys", {{"user", "root"}, {"add", {key}}});
  INFO(added.message);
  REQUIRE(added.ok);
  CHECK(added.result["changed"] == true);
  CHECK(t.read("root/.ssh/authorized_keys") == key + "\n");
  CHECK(t.read("calls") == "ssh-keys 50-log root\n");
  auto removed = ga::run_op(state, "ssh-keys", {{"user", "root"}, {"remove", {key}}});
  INFO(removed.message);
  REQUIRE(removed.ok);
  CHECK(removed.result["changed"] == true);
  CHECK(t.read("root/.ssh/authorized_keys").find("AAAAC3") == std::string::npos);
  CHECK(fs::exists(t.path() / "run/guestkit/runs/ssh-keys.json"));
}
