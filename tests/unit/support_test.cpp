// The test helpers themselves: a skip unwinds the test's stack before the exit code
// 77 that ctest reads, so what the test made (temp dirs) is cleaned up.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/exec.hpp"
#include "tests/support.hpp"

namespace fs = std::filesystem;
using guestkit::test::TempDir;

// Run only by the test below, in a child process (hidden: ctest does not list it).
TEST_CASE("support: skip probe", "[.skip-probe]") {
  const char* out = std::getenv("GUESTKIT_SKIP_PROBE_OUT");
  REQUIRE(out);
  TempDir t;
  std::ofstream(out) << t.path().string();
  GUESTKIT_SKIP("probe: the temp dir must be gone after this");
}

TEST_CASE("support: a skip exits 77 after unwinding, its temp dirs removed", "[support]") {
  TempDir t;
  const fs::path out = t.path() / "probe-dir";
  guestkit::core::ExecOptions o;
  o.env = {{"GUESTKIT_SKIP_PROBE_OUT", out.string()}};
  auto r = guestkit::core::run({guestkit::test::built_binary("tests", "unit-tests").string(),
                                "support: skip probe"},
                               o);
  REQUIRE(r);
  CHECK(r->exit_code == 77);
  CHECK(r->out.find("SKIPPED: probe: the temp dir must be gone after this") != std::string::npos);
  // No failure reported: the skip is not an unexpected exception to the reporter.
  CHECK(r->out.find("FAILED") == std::string::npos);
  std::ifstream in(out);
  std::string probe_dir;
  REQUIRE(std::getline(in, probe_dir));
  REQUIRE_FALSE(probe_dir.empty());
  CHECK_FALSE(fs::exists(probe_dir));
}
