// agent.* settings: defaults, strict validation with positions, the shipped agent.yml.

#include <catch2/catch.hpp>

#include "core/config.hpp"
#include "core/paths.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;

TEST_CASE("agent config keys and errors", "[agent][config]") {
  gc::Config config;
  std::vector<std::string> errors;
  REQUIRE(gc::apply_yaml(config, R"(agent:
  key_file: /etc/k
  auth: none
  allow_from: ["10.0.0.0/8", "::1", "unix", "192.0.2.7", "vsock", "virtio", "serial"]
  max_message: 4096
  read_timeout: 500ms
  session_timeout: 2m
  retire_after_provision: false
)",
                         "agent.yml", errors));
  CHECK(config.agent.key_file == "/etc/k");
  CHECK(config.agent.auth == "none");
  CHECK(config.agent.allow_from.size() == 7);
  CHECK(config.agent.max_message == 4096);
  CHECK(config.agent.read_timeout.count() == 500);
  CHECK(config.agent.session_timeout.count() == 120000);
  CHECK_FALSE(config.agent.retire_after_provision);

  gc::Config fresh;
  errors.clear();
  CHECK_FALSE(gc::apply_yaml(fresh, R"(agent:
  auth: maybe
  allow_from: ["10.0.0.0/33"]
  max_message: 10
  key_file: relative
  retier_after_provision: true
)",
                             "agent.yml", errors));
  CHECK(errors ==
        std::vector<std::string>{
            "agent.yml:2:9: 'agent.auth' must be one of key, none",
            "agent.yml:3:15: 'agent.allow_from': '10.0.0.0/33' is not an address, a CIDR like "
            "10.0.0.0/8, unix, vsock, virtio or serial",
            "agent.yml:4:16: 'agent.max_message' must be an integer in 1024..16777216",
            "agent.yml:5:13: 'agent.key_file' must be an absolute path (starting with '/')",
            "agent.yml:6:3: unknown key 'agent.retier_after_provision'",
        });
}

TEST_CASE("agent config shipped agent.yml is exactly the defaults, read before drop-ins",
          "[agent][config]") {
  guestkit::test::TempDir tmp;
  const std::string shipped = std::string(GUESTKIT_SOURCE_DIR) + "/config/agent.yml";
  gc::ConfigLoadOptions only_shipped;
  only_shipped.file = shipped;
  auto loaded = gc::load_config(tmp.root(), only_shipped);
  INFO((loaded.ok() ? "" : loaded.error().context));
  REQUIRE(loaded.ok());
  const gc::AgentConfig defaults;
  CHECK(loaded->agent.key_file == defaults.key_file);
  CHECK(loaded->agent.auth == defaults.auth);
  CHECK(loaded->agent.allow_from.empty());
  CHECK(loaded->agent.max_message == defaults.max_message);
  CHECK(loaded->agent.read_timeout == defaults.read_timeout);
  CHECK(loaded->agent.session_timeout == defaults.session_timeout);
  CHECK(loaded->agent.retire_after_provision);

  tmp.write("etc/guestkit/agent.yml", "agent: {read_timeout: 5s, max_message: 2048}\n");
  tmp.write("etc/guestkit/guestkit.yml.d/10-x.yml", "agent: {read_timeout: 7s}\n");
  gc::ConfigLoadOptions agent;
  agent.extra_files = {gc::paths::kAgentConfigFile};
  auto merged = gc::load_config(tmp.root(), agent);
  REQUIRE(merged.ok());
  CHECK(merged->agent.read_timeout.count() == 7000);  // the drop-in wins
  CHECK(merged->agent.max_message == 2048);
}
