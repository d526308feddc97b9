// memory.online_policy decisions and the zone sizes they weigh (/proc/zoneinfo).

#include "plugins/memory/memory_zones.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "tests/fake_sysfs.hpp"

namespace core = guestkit::core;
namespace mem = guestkit::plugins::memory;
using guestkit::test::kGiB;
using guestkit::test::kMiB;

namespace {

std::string fixture(const std::string& relative) {
  std::ifstream in(std::string(GUESTKIT_SOURCE_DIR) + "/tests/fixtures/" + relative);
  REQUIRE(in);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

core::MemoryConfig policy(core::MemoryPolicy p, double ratio = 3) {
  core::MemoryConfig c;
  c.online_policy = p;
  c.movable_ratio = ratio;
  return c;
}

}  // namespace

TEST_CASE("zoneinfo captured from a real kernel: kernel zones and movable", "[memory]") {
  const auto zones = mem::parse_zoneinfo(fixture("sysfs-x86_64-2cpu-24g/proc/zoneinfo"), 4096);
  REQUIRE(zones);
  // DMA 3998 + DMA32 782336 + Normal 5505024 present pages; Movable 0; Device left out.
  CHECK(zones->kernel == (3998ull + 782336 + 5505024) * 4096);
  CHECK(zones->movable == 0);
}

TEST_CASE("zoneinfo: every node counts, the first present line per zone", "[memory]") {
  // The shape of older kernels (3.x/4.x): no per-node stats, "present" right there.
  const std::string text =
      "Node 0, zone      DMA\n  pages free     3977\n        min      5\n"
      "        spanned  4095\n        present  3998\n        managed  3977\n"
      "Node 0, zone   Normal\n  pages free     1\n        present  1000\n"
      "        protection: (0, 0, 0)\n      nr_free_pages 1\n"
      "Node 1, zone   Normal\n  pages free     1\n        present  2000\n"
      "Node 1, zone  Movable\n  pages free     1\n        present  300\n        present  999\n"
      "Node 1, zone   Device\n        present  77\n";
  const auto zones = mem::parse_zoneinfo(text, 4096);
  REQUIRE(zones);
  CHECK(zones->kernel == (3998ull + 1000 + 2000) * 4096);
  CHECK(zones->movable == 300ull * 4096);
  CHECK(mem::parse_zoneinfo(text, 65536)->movable == 300ull * 65536);

  CHECK_FALSE(mem::parse_zoneinfo("", 4096));
  CHECK_FALSE(mem::parse_zoneinfo("nr_free_pages 1\npresent 5\n", 4096));  // no zone header
  CHECK_FALSE(mem::parse_zoneinfo("Node 0, zone Normal\n  present lots\n", 4096));
}

TEST_CASE("the fixed policies write what they say", "[memory]") {
  const mem::ZoneTotals zones{4 * kGiB, 0};
  CHECK(mem::decide(policy(core::MemoryPolicy::online), zones, 128 * kMiB, "Movable").state ==
        "online");
  CHECK(
      mem::decide(policy(core::MemoryPolicy::online_movable), zones, 128 * kMiB, "Normal").state ==
      "online_movable");
  CHECK(
      mem::decide(policy(core::MemoryPolicy::online_kernel), zones, 128 * kMiB, "Movable").state ==
      "online_kernel");
}

TEST_CASE("auto: movable within movable_ratio x kernel, then kernel", "[memory]") {
  const auto c = policy(core::MemoryPolicy::automatic);
  // 12 GiB - 128 MiB movable + 128 MiB = exactly 3 x 4 GiB: still movable.
  auto at_limit = mem::decide(c, mem::ZoneTotals{4 * kGiB, 12 * kGiB - 128 * kMiB}, 128 * kMiB,
                              "Normal Movable");
  CHECK(at_limit.state == "online_movable");
  CHECK(at_limit.why == "auto: movable 11.9 GiB + 128 MiB <= 3 x kernel 4 GiB");
  auto over = mem::decide(c, mem::ZoneTotals{4 * kGiB, 12 * kGiB}, 128 * kMiB, "Normal Movable");
  CHECK(over.state == "online_kernel");
  CHECK(over.why == "auto: movable 12 GiB + 128 MiB > 3 x kernel 4 GiB");
  // A fractional ratio, and 0: never movable.
  CHECK(mem::decide(policy(core::MemoryPolicy::automatic, 0.5), mem::ZoneTotals{4 * kGiB, 1 * kGiB},
                    1 * kGiB, "")
            .state == "online_movable");
  CHECK(mem::decide(policy(core::MemoryPolicy::automatic, 0.5),
                    mem::ZoneTotals{4 * kGiB, 1 * kGiB + 1}, 1 * kGiB, "")
            .state == "online_kernel");
  CHECK(mem::decide(policy(core::MemoryPolicy::automatic, 0), mem::ZoneTotals{4 * kGiB, 0},
                    128 * kMiB, "")
            .state == "online_kernel");
}

TEST_CASE("auto: the block's valid_zones wins when it allows one kind only", "[memory]") {
  const auto c = policy(core::MemoryPolicy::automatic);
  const mem::ZoneTotals room{4 * kGiB, 0}, full{4 * kGiB, 12 * kGiB};
  auto only_kernel = mem::decide(c, room, 128 * kMiB, "Normal");
  CHECK(only_kernel.state == "online_kernel");
  CHECK(only_kernel.why == "auto: the kernel offers only 'Normal'");
  CHECK(mem::decide(c, full, 128 * kMiB, "Movable").state == "online_movable");
  CHECK(mem::decide(c, room, 128 * kMiB, "DMA32 Normal").state == "online_kernel");
  // Both offered, or nothing said ("None", "none", absent): the ratio decides.
  for (const char* zones : {"Normal Movable", "Movable Normal", "None", "none", ""}) {
    INFO(zones);
    CHECK(mem::decide(c, room, 128 * kMiB, zones).state == "online_movable");
    CHECK(mem::decide(c, full, 128 * kMiB, zones).state == "online_kernel");
  }
}

TEST_CASE("auto: without zone sizes the kernel picks", "[memory]") {
  const auto c = policy(core::MemoryPolicy::automatic);
  auto unknown = mem::decide(c, std::nullopt, 128 * kMiB, "Normal Movable");
  CHECK(unknown.state == "online");
  CHECK(unknown.why == "auto: zone sizes unknown, the kernel picks");
  CHECK(mem::decide(c, mem::ZoneTotals{0, 0}, 128 * kMiB, "").state == "online");
  CHECK(mem::decide(c, mem::ZoneTotals{4 * kGiB, 0}, 0, "").state == "online");
}

TEST_CASE("account books onlined blocks into their zone", "[memory]") {
  mem::ZoneTotals z{4 * kGiB, 0};
  mem::account(z, "online_movable", 128 * kMiB);
  mem::account(z, "online_kernel", 256 * kMiB);
  mem::account(z, "online", 512 * kMiB);  // zone unknown: not booked
  CHECK(z.movable == 128 * kMiB);
  CHECK(z.kernel == 4 * kGiB + 256 * kMiB);
}
