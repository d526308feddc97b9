// prepare-unplug on fake sysfs trees: DIMM ranges by phys_index, movable memory by
// size, vCPUs; the kernel's refusals (EBUSY, EINVAL) faked per write, and the
// rollback of what was already offlined.

#include <catch2/catch.hpp>
#include <cerrno>

#include "plugins/unplug/unplug.hpp"
#include "tests/fake_sysfs.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace unplug = guestkit::plugins::unplug;
namespace sysfs = guestkit::plugins::sysfs;
using guestkit::test::FakeSysfs;
using guestkit::test::kMiB;
using guestkit::test::SysfsRefusals;
using guestkit::test::TempDir;
using nlohmann::json;

namespace {

constexpr const char* kMem = "/sys/devices/system/memory/memory";

core::Context context(const TempDir& t) {
  return core::Context(t.root(), core::Config{});
}

// Writes through the real sysfs::Dir::write unless `refusals` says the kernel refuses.
unplug::Writer writer(SysfsRefusals& refusals) {
  return [&refusals](const sysfs::Dir& dir, std::string_view attr,
                     std::string_view value) -> core::Status {
    if (int err = refusals.match(dir.guest(), attr, value))
      return core::errno_error(dir.display(attr), err);  // as Dir::write reports the kernel's
    return dir.write(attr, value);
  };
}

// 8 boot blocks (memory0-7) and a 512 MiB DIMM of 4 blocks at 4 GiB (memory32-35),
// onlined movable; block size 128 MiB; phys_index as the kernel writes it.
void dimm_layout(const FakeSysfs& sys) {
  sys.memory(8, 128 * kMiB, {});
  for (unsigned id = 0; id < 8; ++id) {
    sys.block(id, "online", "Normal");
    sys.phys_index(id, id);
  }
  for (unsigned id = 32; id < 36; ++id) {
    sys.block(id, "online", "Movable");
    sys.phys_index(id, id);
  }
}

json request(const std::string& text) {
  return json::parse(text);
}

}  // namespace

TEST_CASE("prepare-unplug parses memory sizes, DIMM ranges and CPUs, and refuses the rest",
          "[unplug]") {
  auto r =
      unplug::parse_request(request(R"({"memory": {"address": "0x100000000", "size": "512M"}})"));
  REQUIRE(r);
  REQUIRE(r->memory);
  CHECK(*r->memory->address == 0x100000000ull);
  CHECK(r->memory->size == 512 * kMiB);
  r = unplug::parse_request(request(R"({"memory": 268435456})"));
  REQUIRE(r);
  CHECK(!r->memory->address);
  CHECK(r->memory->size == 256 * kMiB);
  r = unplug::parse_request(request(R"({"cpu": [3, 2, 3]})"));
  REQUIRE(r);
  CHECK(r->cpus == std::vector<unsigned>{2, 3});
  for (const char* bad :
       {R"({})", R"({"memory": "1G", "cpu": 1})", R"({"memory": "12Q"})", R"({"memory": "0"})",
        R"({"memory": -1})", R"({"cpu": "1"})", R"({"cpu": []})", R"({"memory": {"address": 0}})",
        R"({"memory": {"address": "0xffffffffffffffff", "size": "1G"}})", R"({"disk": "vdb"})",
        R"({"memory": "99999999999999999999T"})"}) {
    INFO(bad);
    auto p = unplug::parse_request(request(bad));
    REQUIRE(!p);
    CHECK(p.error().code == core::Errc::bad_input);
  }
}

TEST_CASE("a DIMM range offlines exactly its blocks, highest first", "[unplug]") {
  TempDir t;
  FakeSysfs sys(t);
  dimm_layout(sys);
  SysfsRefusals refusals;
  const auto ctx = context(t);
  auto r = unplug::prepare_memory(ctx, {0x100000000ull, 512 * kMiB}, writer(refusals));
  REQUIRE(r);
  INFO(r->dump());
  CHECK((*r)["state"] == "ready");
  CHECK((*r)["blocks"] == "memory32-35");
  CHECK((*r)["bytes"] == 512 * kMiB);
  CHECK(refusals.attempts ==
        std::vector<std::string>{"memory35/state=offline", "memory34/state=offline",
                                 "memory33/state=offline", "memory32/state=offline"});
  for (unsigned id = 32; id < 36; ++id) CHECK(sys.block_state(id) == "offline");
  CHECK(sys.block_state(7) == "online\n");
}

TEST_CASE("the kernel's EBUSY on one block of a DIMM brings the others back into their zone",
          "[unplug]") {
  TempDir t;
  FakeSysfs sys(t);
  dimm_layout(sys);
  SysfsRefusals refusals;
  refusals.add(std::string(kMem) + "33", "state", "offline", EBUSY);
  const auto ctx = context(t);
  auto r = unplug::prepare_memory(ctx, {0x100000000ull, 512 * kMiB}, writer(refusals));
  REQUIRE(r);
  INFO(r->dump());
  CHECK((*r)["state"] == "refused");
  CHECK((*r)["errno"] == "EBUSY");
  CHECK((*r)["part"] == "memory33");
  CHECK((*r)["reason"] == "Device or resource busy");
  CHECK((*r)["rolled_back"] == "memory34-35");
  CHECK((*r)["rollback_failed"].empty());
  // 35 and 34 went offline, 33 refused, then 34 and 35 online again as movable.
  CHECK(refusals.attempts ==
        std::vector<std::string>{"memory35/state=offline", "memory34/state=offline",
                                 "memory33/state=offline", "memory34/state=online_movable",
                                 "memory35/state=online_movable"});
  CHECK(sys.block_state(35) == "online_movable");
  CHECK(sys.block_state(34) == "online_movable");
  CHECK(sys.block_state(33) == "online\n");  // never written
  CHECK(sys.block_state(32) == "online\n");
}

TEST_CASE("a range that is not on block boundaries or not this VM's memory changes nothing",
          "[unplug]") {
  TempDir t;
  FakeSysfs sys(t);
  dimm_layout(sys);
  SysfsRefusals refusals;
  const auto ctx = context(t);
  for (auto req : {unplug::MemoryRequest{0x100000000ull + 4096, 128 * kMiB},
                   unplug::MemoryRequest{0x100000000ull, 100 * kMiB},
                   unplug::MemoryRequest{0x100000000ull, 1024 * kMiB}}) {
    auto r = unplug::prepare_memory(ctx, req, writer(refusals));
    REQUIRE(!r);
    CHECK(r.error().code == core::Errc::bad_input);
  }
  CHECK(refusals.attempts.empty());
}

TEST_CASE("a size takes the highest movable blocks, passing over refused ones", "[unplug]") {
  TempDir t;
  FakeSysfs sys(t);
  dimm_layout(sys);
  SysfsRefusals refusals;
  refusals.add(std::string(kMem) + "35", "state", "offline", EBUSY);
  const auto ctx = context(t);
  auto r = unplug::prepare_memory(ctx, {std::nullopt, 200 * kMiB}, writer(refusals));
  REQUIRE(r);
  INFO(r->dump());
  CHECK((*r)["state"] == "ready");
  CHECK((*r)["blocks"] == "memory33-34");  // 200 MiB is two blocks; 35 refused
  CHECK(sys.block_state(35) == "online\n");
  CHECK(sys.block_state(32) == "online\n");

  SECTION("more than the movable memory: refused, every block back") {
    auto more = unplug::prepare_memory(ctx, {std::nullopt, 1024 * kMiB}, writer(refusals));
    REQUIRE(more);
    INFO(more->dump());
    CHECK((*more)["state"] == "refused");
    CHECK((*more)["errno"] == "EBUSY");  // the last refusal
    CHECK((*more)["rolled_back"] == "memory32");
    CHECK(sys.block_state(32) == "online_movable");
    for (unsigned id = 0; id < 8; ++id)
      CHECK(sys.block_state(id) == "online\n");  // Normal: never tried
  }
}

TEST_CASE("vCPUs go offline together or not at all, and EINVAL names the CPU", "[unplug]") {
  TempDir t;
  FakeSysfs sys(t);
  sys.cpus(4, {});
  SysfsRefusals refusals;
  const auto ctx = context(t);
  auto r = unplug::prepare_cpus(ctx, {3}, writer(refusals));
  REQUIRE(r);
  CHECK((*r)["state"] == "ready");
  CHECK((*r)["cpus"] == "cpu3");
  CHECK(sys.cpu_online(3) == "0");

  refusals.add("/sys/devices/system/cpu/cpu1", "online", "0", EINVAL);
  r = unplug::prepare_cpus(ctx, {1, 2, 3}, writer(refusals));
  REQUIRE(r);
  INFO(r->dump());
  CHECK((*r)["state"] == "refused");
  CHECK((*r)["errno"] == "EINVAL");
  CHECK((*r)["part"] == "cpu1");
  CHECK((*r)["rolled_back"] == "cpu2");
  CHECK(sys.cpu_online(2) == "1");
  CHECK(sys.cpu_online(3) == "0");  // it was offline before this call: left so

  auto boot = unplug::prepare_cpus(ctx, {0}, writer(refusals));
  REQUIRE(!boot);
  CHECK(boot.error().code == core::Errc::bad_input);
  auto none = unplug::prepare_cpus(ctx, {9}, writer(refusals));
  REQUIRE(!none);
  CHECK(none.error().code == core::Errc::bad_input);
}
