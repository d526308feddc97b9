// Our own Catch2 main (Debian 12 ships Catch2 2.13 without a prebuilt main library).
// ctest runs each test case with "-w NoTests" (tests/CMakeLists.txt), so an entry whose
// name matches nothing fails instead of passing without running.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>

int main(int argc, char* argv[]) {
  // Like every guestkit binary: a closed pipe is an EPIPE, not a death.
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
