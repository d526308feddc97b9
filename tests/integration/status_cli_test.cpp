// guestkit status, the binary: --wait returns when the boot stages have run, with
// their exit code (0 ok, 1 partial or not done by --timeout, 2 failed).

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/exec.hpp"
#include "plugins/runner.hpp"
#include "tests/status_fixture.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace plugins = guestkit::plugins;
using guestkit::test::TempDir;
using guestkit::test::write_stage_record;
using nlohmann::json;

TEST_CASE("guestkit status --wait returns when the stages have run, with their exit code",
          "[status]") {
  TempDir t;
  const auto bin = guestkit::test::built_binary("plugins", "guestkit").string();
  auto r = core::run({bin, "--root", t.path().string(), "status", "--wait", "--timeout", "300ms"});
  REQUIRE(r);
  CHECK(r->exit_code == 1);  // nothing has run: partial after the timeout
  CHECK(r->out.find("boot: pending") != std::string::npos);
  for (const char* s : {"bootstrap", "mount", "config"})
    write_stage_record(t, s, plugins::RunStatus::unchanged, 1);
  write_stage_record(t, "postboot", plugins::RunStatus::failed, 2);
  r = core::run({bin, "--root", t.path().string(), "status", "--wait", "--json"});
  REQUIRE(r);
  CHECK(r->exit_code == 2);
  auto j = json::parse(r->out);
  CHECK(j["boot"]["state"] == "done");
  write_stage_record(t, "postboot", plugins::RunStatus::unchanged, 2);
  r = core::run({bin, "--root", t.path().string(), "status"});
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  auto bad = core::run({bin, "stats"});
  REQUIRE(bad);
  CHECK(bad->exit_code == 64);
}

TEST_CASE("guestkit status --wait blocks until the last stage writes its record", "[status]") {
  TempDir t;
  const auto bin = guestkit::test::built_binary("plugins", "guestkit").string();
  for (const char* s : {"bootstrap", "mount", "config"})
    write_stage_record(t, s, plugins::RunStatus::unchanged, 1);
  const auto start = std::chrono::steady_clock::now();
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    write_stage_record(t, "postboot", plugins::RunStatus::unchanged, 2);
  });
  auto r = core::run({bin, "--root", t.path().string(), "status", "--wait", "--timeout", "20s"});
  late.join();
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(600));
  CHECK(r->out.find("boot: done (exit 0)") != std::string::npos);
  // The stages in the order they run.
  CHECK(r->out.find("bootstrap: ok") < r->out.find("mount: ok"));
  CHECK(r->out.find("mount: ok") < r->out.find("config: ok"));
  CHECK(r->out.find("config: ok") < r->out.find("postboot: ok"));
}
