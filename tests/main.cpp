// Our own Catch2 main (Debian 12 ships Catch2 2.13 without a prebuilt main library).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <iostream>

namespace {

int g_cases_started = 0;

// Counts the test cases that really ran.
struct CountingListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const&) override { ++g_cases_started; }
};

}  // namespace

CATCH_REGISTER_LISTENER(CountingListener)

int main(int argc, char* argv[]) {
  // Like every guestkit binary: a closed pipe is an EPIPE, not a death.
  std::signal(SIGPIPE, SIG_IGN);
  bool listing = false;
  for (int i = 1; i < argc; ++i) listing = listing || std::strncmp(argv[i], "--list", 6) == 0 || std::strcmp(argv[i], "-?") == 0 || std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0;
  int rc = Catch::Session().run(argc, argv);
  // Catch2 2.x exits 0 when its filter matches nothing ("No tests ran"): a ctest entry
  // whose name was mangled (ctest splits names at ';') would pass without running.
  if (rc == 0 && g_cases_started == 0 && !listing) {
    std::cerr << "error: no test case matched the filter; a test that runs nothing must not pass\n";
    return 3;
  }
  return rc;
}
