// Our own Catch2 main (Debian 12 ships Catch2 2.13 without a prebuilt main library).
// ctest runs each test case with "-w NoTests" (tests/CMakeLists.txt), so an entry whose
// name matches nothing fails instead of passing without running.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "tests/support.hpp"

namespace {

// A skip (tests/support.hpp) is an exception Catch catches outside the test case, once
// its stack has unwound; Catch reports it as an assertion, to the listeners first: here
// it becomes exit code 77 ("cannot run here") before any reporter calls it a failure.
struct SkipListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(Catch::AssertionStats const& stats) override {
    if (guestkit::test::skip_requested()) {
      std::cout.flush();
      std::cerr.flush();
      std::_Exit(77);
    }
    return TestEventListenerBase::assertionEnded(stats);
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(SkipListener)

int main(int argc, char* argv[]) {
  // Like every guestkit binary: a closed pipe is an EPIPE, not a death.
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
