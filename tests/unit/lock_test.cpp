#include "core/lock.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <optional>
#include <thread>

#include "tests/support.hpp"

using namespace guestkit::core;
using guestkit::test::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

Lock must_lock(const Root& root, std::string_view name, Lock::Mode mode = Lock::Mode::exclusive) {
  auto lock = Lock::acquire(root, name, 0ms, mode);
  if (!lock) FAIL("lock " << name << ": " << lock.error().message());
  return std::move(lock).value();
}

mode_t mode_of(const fs::path& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("acquire creates a private lock file and releases on destruction", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  {
    auto lock = must_lock(root, "disk-sda");
    CHECK(lock.name() == "disk-sda");
    CHECK(mode_of(tmp.path() / "run/guestkit/lock/disk-sda.lock") == 0600);
    CHECK(mode_of(tmp.path() / "run/guestkit/lock") == 0700);
    auto again = Lock::acquire(root, "disk-sda", 0ms);
    REQUIRE_FALSE(again);
    CHECK(again.error().code == Errc::timed_out);
  }
  auto after = Lock::acquire(root, "disk-sda", 0ms);
  CHECK(after);
}

TEST_CASE("a second exclusive lock waits out its timeout, then succeeds once released", "[lock]") {
  // No ceilings on the wall clock (ctest -j on a loaded machine stretches any of them);
  // a floor cannot be stretched into a false failure: the call must not give up early.
  TempDir tmp;
  auto root = tmp.root();
  std::optional<Lock> first = must_lock(root, "iface-eth0");

  auto start = Clock::now();
  auto second = Lock::acquire(root, "iface-eth0", 200ms);
  auto elapsed = Clock::now() - start;
  REQUIRE_FALSE(second);
  CHECK(second.error().code == Errc::timed_out);
  CHECK(second.error().message() == "lock iface-eth0: timed out");
  CHECK(elapsed >= 200ms);

  // Other names are independent.
  CHECK(Lock::acquire(root, "iface-eth1", 0ms));

  first.reset();
  auto third = Lock::acquire(root, "iface-eth0", 0ms);
  CHECK(third);
}

TEST_CASE("a zero timeout is one try: it does not wait for the holder", "[lock]") {
  // The holder lets go when the 0 ms call has returned (a promise), or after 3 s if it
  // has not: a call that took 0 for "wait" (forever, or some default) finds the lock
  // free then and succeeds, and fails here; one try returns long before, on any load.
  TempDir tmp;
  auto root = tmp.root();
  std::optional<Lock> held = must_lock(root, "iface-eth0");
  std::promise<void> returned;
  std::thread holder([&, done = returned.get_future()]() mutable {
    done.wait_for(3s);
    held.reset();
  });
  auto zero = Lock::acquire(root, "iface-eth0", 0ms);
  returned.set_value();
  holder.join();
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == Errc::timed_out);
  CHECK(Lock::acquire(root, "iface-eth0", 0ms));  // released now
}

TEST_CASE("a waiter gets the lock soon after it is released, not at its next doubling", "[lock]") {
  // Retries are at most 50 ms apart. The holder lets go 2.1 s after the waiter starts
  // (a latch marks the start; the release time is taken from the holder's own
  // clock read): an uncapped doubling from 1 ms would sleep from 2047 ms to 4095 ms and
  // take the lock about 2 s after the release, the capped one within 50 ms. The 1.5 s
  // allowance is what a loaded machine may add to waking a thread, by far.
  TempDir tmp;
  auto root = tmp.root();
  std::optional<Lock> first = must_lock(root, "x");
  std::promise<void> waiting;
  std::promise<Clock::time_point> released;
  std::thread releaser([&, start = waiting.get_future()]() mutable {
    start.wait();
    std::this_thread::sleep_for(2100ms);
    first.reset();
    released.set_value(Clock::now());
  });
  auto release_time = released.get_future();
  waiting.set_value();
  auto second = Lock::acquire(root, "x", 30s);
  const auto got = Clock::now();
  releaser.join();
  REQUIRE(second);
  const auto after_release = got - release_time.get();
  CHECK(after_release < 1500ms);
}

TEST_CASE("shared locks coexist, exclusive excludes them", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  using Mode = Lock::Mode;
  {
    auto a = must_lock(root, "cfg", Mode::shared);
    auto b = Lock::acquire(root, "cfg", 0ms, Mode::shared);
    CHECK(b);
    auto c = Lock::acquire(root, "cfg", 50ms, Mode::exclusive);
    REQUIRE_FALSE(c);
    CHECK(c.error().code == Errc::timed_out);
  }
  auto x = must_lock(root, "cfg", Mode::exclusive);
  auto s = Lock::acquire(root, "cfg", 50ms, Mode::shared);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == Errc::timed_out);
}

TEST_CASE("a moved lock stays held until its last owner goes", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  auto a = must_lock(root, "m");
  std::optional<Lock> b(std::move(a));
  CHECK(b->name() == "m");
  CHECK_FALSE(Lock::acquire(root, "m", 0ms));
  auto other = must_lock(root, "n");
  other = std::move(*b);  // releases "n", takes over "m"
  CHECK(Lock::acquire(root, "n", 0ms));
  b.reset();
  CHECK_FALSE(Lock::acquire(root, "m", 0ms));
  other = must_lock(root, "n");
  CHECK(Lock::acquire(root, "m", 0ms));
}

TEST_CASE("lock names are validated", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  const std::string longest = "a" + std::string(127, 'b');
  for (const std::string& good : {std::string("disk-sda"), std::string("a"),
                                  std::string("9p@host:vol_1.x"), longest}) {
    INFO(good);
    CHECK(Lock::acquire(root, good, 0ms));
  }
  for (const std::string& bad :
       {std::string(), std::string("../x"), std::string("a/b"), std::string(".hidden"),
        std::string("-x"), std::string("a b"), std::string("a\0b", 3), std::string("é"),
        longest + "c"}) {
    INFO(bad);
    auto r = Lock::acquire(root, bad, 0ms);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::bad_input);
  }
  CHECK_FALSE(fs::exists(tmp.path() / "run/guestkit/x.lock"));
}

TEST_CASE("a symlink planted at the lock file is refused", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  auto target = tmp.write("precious", "keep me", 0644);
  fs::create_directories(tmp.path() / "run/guestkit/lock");
  fs::create_symlink(target, tmp.path() / "run/guestkit/lock/evil.lock");
  fs::create_symlink(tmp.path() / "created", tmp.path() / "run/guestkit/lock/dangling.lock");

  auto r = Lock::acquire(root, "evil", 0ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::symlink_refused);
  CHECK(tmp.read("precious") == "keep me");
  CHECK(mode_of(target) == 0644);

  auto d = Lock::acquire(root, "dangling", 0ms);
  REQUIRE_FALSE(d);
  CHECK(d.error().code == Errc::symlink_refused);
  CHECK_FALSE(fs::exists(tmp.path() / "created"));
}

TEST_CASE("a hard link or non-file at the lock path is refused", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  auto target = tmp.write("precious", "keep me", 0644);
  fs::create_directories(tmp.path() / "run/guestkit/lock/dir.lock");
  fs::create_hard_link(target, tmp.path() / "run/guestkit/lock/hard.lock");
  auto h = Lock::acquire(root, "hard", 0ms);
  REQUIRE_FALSE(h);
  CHECK(h.error().code == Errc::unsafe);
  auto d = Lock::acquire(root, "dir", 0ms);
  REQUIRE_FALSE(d);
  CHECK(d.error().code == std::errc::is_a_directory);
  CHECK(tmp.read("precious") == "keep me");
}

TEST_CASE("a symlink planted at the lock directory is refused", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  fs::create_directories(tmp.path() / "elsewhere");
  fs::create_directories(tmp.path() / "run/guestkit");
  fs::create_symlink(tmp.path() / "elsewhere", tmp.path() / "run/guestkit/lock");

  auto r = Lock::acquire(root, "disk-sda", 0ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::symlink_refused);
  CHECK(fs::is_empty(tmp.path() / "elsewhere"));
}
