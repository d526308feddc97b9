#pragma once
// prepare-unplug: empty a DIMM or a vCPU before the platform takes it away, with
// nothing half-done. Memory blocks (/sys/devices/system/memory/memoryN) are offlined
// by writing "offline" to their `state`; the block holding physical address A is the
// one whose phys_index (hexadecimal) x block_size_bytes (hexadecimal) <= A. A vCPU is
// offlined by writing 0 to cpuN/online. When the kernel refuses one part (EBUSY: pages
// it cannot migrate; EINVAL: a kernel-zone block, the last CPU...), every part this
// call already offlined is brought back (memory into the zone it was in), and the
// answer names the part and the kernel's errno.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.hpp"
#include "core/result.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::unplug {

// How an attribute is written: sysfs::Dir::write by default. Tests hand in a writer
// that makes the kernel's refusals (EBUSY, EINVAL) happen on a fake tree.
using Writer = std::function<core::Status(const sysfs::Dir& dir, std::string_view attr,
                                          std::string_view value)>;

struct MemoryRequest {
  // A DIMM as the platform names it (QEMU's query-memory-devices: addr and size):
  // every block of [address, address + size) must go.
  std::optional<std::uint64_t> address;
  // With an address: the range's length. Alone: this much movable memory, any blocks.
  std::uint64_t size = 0;
};

// "0x140000000", "5368709120": an address or a byte count (integers in JSON too).
// "512M", "1G", "128MiB": sizes with a binary suffix. Errc::bad_input otherwise.
core::Result<std::uint64_t> parse_bytes(const nlohmann::json& value, std::string_view field);

// The args of the op: {"memory": SIZE | {"address": A, "size": S}} or
// {"cpu": N | [N, ...]}; exactly one of the two.
struct Request {
  std::optional<MemoryRequest> memory;
  std::vector<unsigned> cpus;
};
core::Result<Request> parse_request(const nlohmann::json& args);

// {"state": "ready", ...} or {"state": "refused", "errno": "EBUSY", "reason": ...,
// "part": "memory42", "rolled_back": [...]}. Errors: bad input (no such block, a
// range not on block boundaries, cpu0) and unreadable sysfs; nothing is changed then.
core::Result<nlohmann::json> prepare_memory(const core::Context& ctx, const MemoryRequest& req,
                                            const Writer& write = {});
core::Result<nlohmann::json> prepare_cpus(const core::Context& ctx,
                                          const std::vector<unsigned>& cpus,
                                          const Writer& write = {});
core::Result<nlohmann::json> prepare(const core::Context& ctx, const Request& req,
                                     const Writer& write = {});

// "EBUSY" for EBUSY; "E<number>" for what this table does not know.
std::string errno_name(int err);

}  // namespace guestkit::plugins::unplug
