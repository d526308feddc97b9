// core::netlink's waits against the real kernel, in a network namespace of the test's
// own: the test body runs on a thread that unshare()d CLONE_NEWNET (a thread's
// namespaces are its own), and the threads it starts share that namespace. Nothing
// of the host's network is seen or touched, and the namespace goes with the thread.

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "core/fd.hpp"
#include "core/netlink.hpp"
#include "tests/support.hpp"

namespace nl = guestkit::core::netlink;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// lo up (its index is 1 in every new namespace), so routes through it are accepted.
void loopback_up() {
  guestkit::core::UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(s);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  REQUIRE(::ioctl(s.get(), SIOCGIFFLAGS, &ifr) == 0);
  ifr.ifr_flags |= IFF_UP;
  REQUIRE(::ioctl(s.get(), SIOCSIFFLAGS, &ifr) == 0);
}

// Runs `body` on a thread of its own in a new network namespace with lo up; skips the
// test when the namespace cannot be made here. A failed REQUIRE there (an exception)
// is rethrown on the test's own thread.
void in_new_netns(const std::function<void()>& body) {
  std::string refused;
  std::exception_ptr failed;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      refused = std::string("cannot make a network namespace here: ") + std::strerror(errno);
      return;
    }
    try {
      loopback_up();
      body();
    } catch (...) {
      failed = std::current_exception();
    }
  });
  t.join();
  if (failed) std::rethrow_exception(failed);
  if (!refused.empty()) GUESTKIT_SKIP(refused);
}

nl::Ipv4Route default_via_lo() {
  nl::Ipv4Route r;
  r.ifindex = 1;
  r.dst_len = 0;
  r.table = nl::kMainTable;
  r.priority = 1025;
  return r;
}

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

}  // namespace

TEST_CASE("netlink: the default-route wait wakes on the route, not a poll", "[netlink]") {
  in_new_netns([&] {
    // Added while the wait runs: seen through its notification, long before the
    // recheck tick or the timeout.
    std::atomic<int> stops{0};
    std::thread adder([] {
      std::this_thread::sleep_for(300ms);
      CHECK(nl::add_route(default_via_lo()));
    });
    const auto start = Clock::now();
    auto got = nl::wait_for_ipv4_default_route(
        1, 10s, [&] { return ++stops, false; }, std::chrono::milliseconds(5000));
    const auto took = ms_since(start);
    adder.join();
    REQUIRE(got);
    CHECK(*got);
    CHECK(took >= 250);
    CHECK(took < 3000);
    // Asked once when it first looked, at most once more per notification: no polling.
    CHECK(stops.load() <= 3);

    // Already there: at once, without the stop predicate's say.
    const auto again = Clock::now();
    auto present = nl::wait_for_ipv4_default_route(1, 10s, [] { return true; }, 10ms);
    REQUIRE(present);
    CHECK(*present);
    CHECK(ms_since(again) < 1000);

    // Another interface's default route does not count; the timeout ends the wait.
    const auto other = Clock::now();
    auto absent = nl::wait_for_ipv4_default_route(7, 400ms, {}, 100ms);
    REQUIRE(absent);
    CHECK_FALSE(*absent);
    CHECK(ms_since(other) >= 350);
    CHECK(ms_since(other) < 3000);
  });
}

TEST_CASE("netlink: the default-route wait ends when its stop predicate says so", "[netlink]") {
  in_new_netns([&] {
    // No route ever comes; the predicate (a lease file, say) turns true after 300 ms:
    // seen at the next recheck tick, not at the timeout.
    const auto start = Clock::now();
    int asked = 0;
    auto got = nl::wait_for_ipv4_default_route(
        1, 10s, [&] { return ++asked, ms_since(start) >= 300; }, 100ms);
    const auto took = ms_since(start);
    REQUIRE(got);
    CHECK_FALSE(*got);
    CHECK(took >= 300);
    CHECK(took < 2000);
    // Once at the start, then about once per tick: a handful, not one per 10 ms.
    CHECK(asked >= 2);
    CHECK(asked <= 12);
  });
}

TEST_CASE("netlink: the address wait sees an address added while it waits", "[netlink]") {
  in_new_netns([&] {
    // 127.0.0.1 on lo is host scope: not what the wait is for.
    auto none = nl::wait_for_ipv4_address(1, 300ms);
    REQUIRE(none);
    CHECK_FALSE(*none);

    // A global address (an alias of lo: ioctl, as ifconfig does) added while it waits.
    std::thread adder([] {
      std::this_thread::sleep_for(300ms);
      guestkit::core::UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, "lo:1", IFNAMSIZ - 1);
      auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = nl::Ipv4::parse("192.0.2.7")->be;
      CHECK(::ioctl(s.get(), SIOCSIFADDR, &ifr) == 0);
    });
    const auto start = Clock::now();
    auto got = nl::wait_for_ipv4_address(1, 10s);
    const auto took = ms_since(start);
    adder.join();
    REQUIRE(got);
    REQUIRE(*got);
    CHECK((*got)->address.str() == "192.0.2.7");
    CHECK(took >= 250);
    CHECK(took < 3000);
  });
}
