#include "core/lock.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
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

TEST_CASE("a second exclusive lock waits, times out in bounds, then succeeds", "[lock]") {
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
  CHECK(elapsed < 1s);

  // Zero means one try, no waiting (the bound leaves room for a loaded machine).
  start = Clock::now();
  CHECK_FALSE(Lock::acquire(root, "iface-eth0", 0ms));
  CHECK(Clock::now() - start < 150ms);

  // Other names are independent.
  CHECK(Lock::acquire(root, "iface-eth1", 0ms));

  first.reset();
  auto third = Lock::acquire(root, "iface-eth0", 0ms);
  CHECK(third);
}

TEST_CASE("a waiter gets the lock as soon as it is released", "[lock]") {
  TempDir tmp;
  auto root = tmp.root();
  std::optional<Lock> first = must_lock(root, "x");
  std::thread releaser([&] {
    std::this_thread::sleep_for(300ms);
    first.reset();
  });
  auto start = Clock::now();
  auto second = Lock::acquire(root, "x", 5s);
  auto elapsed = Clock::now() - start;
  releaser.join();
  CHECK(second);
  CHECK(elapsed >= 290ms);
  // Retries are at most 50 ms apart: an uncapped doubling would first retry after
  // the release at 511 ms.
  CHECK(elapsed < 450ms);
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
