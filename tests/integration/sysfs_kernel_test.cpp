// The one /proc/sys writer against the real kernel: its refusals (EINVAL) reach the
// caller with their errno, as 02-apply-sysctl, 40-tune-iface and the memory plugin's
// EINVAL retry rely on. Only inside a network namespace of the test's own (one
// thread's), whose /proc/sys/net is its own: the host's settings are never touched.

#include <sched.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <thread>

#include "core/paths.hpp"
#include "core/root.hpp"
#include "plugins/sysfs.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace sysfs = guestkit::plugins::sysfs;

TEST_CASE("the /proc/sys writer hands the kernel's EINVAL to its caller", "[sysfs-kernel]") {
  const std::string attr = std::string(core::paths::kProcIpv4Conf) + "/lo/rp_filter";
  int unshared = -1;
  std::optional<std::string> before, after_bad, after_good;
  core::Status bad, good;
  // Results are handed back: no Catch2 assertion off the test's thread.
  std::thread ns([&] {
    unshared = ::unshare(CLONE_NEWNET) == 0 ? 0 : errno;
    if (unshared != 0) return;  // the thread ends with its namespace
    const core::Root host = core::Root::host();
    auto r = sysfs::read_attr(host, attr);
    if (r && *r) before = **r;
    bad = sysfs::write_attr(host, attr, "not-a-number\n");
    if (auto a = sysfs::read_attr(host, attr); a && *a) after_bad = **a;
    good = sysfs::write_attr(host, attr, before == "2" ? "1\n" : "2\n");
    if (auto a = sysfs::read_attr(host, attr); a && *a) after_good = **a;
  });
  ns.join();
  if (unshared != 0)
    GUESTKIT_SKIP(
        "unshare(CLONE_NEWNET): " + std::error_code(unshared, std::system_category()).message() +
        " (the integration tier runs as root)");
  REQUIRE(before);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == std::error_code(EINVAL, std::system_category()));
  CHECK(bad.error().message() == "write not-a-number to " + attr + ": Invalid argument");
  CHECK(after_bad == before);  // refused: nothing changed
  INFO((good ? std::string("ok") : good.error().message()));
  CHECK(good);
  CHECK(after_good == (before == "2" ? "1" : "2"));
}
