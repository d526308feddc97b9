#pragma once
// Which state an offline memory block goes to: memory.online_policy, and for `auto`
// the zone sizes it weighs. Pure logic, no I/O: online_memory.cpp feeds it.
//
// Where the sizes come from, and why: /proc/zoneinfo. Every kernel since 2.6 prints
// a "Node N, zone NAME" header per zone followed by a "present" page count, whatever
// the configuration, and onlining a block adds its pages to its zone's "present", so
// it is the current truth. The alternatives are weaker: a memory block's valid_zones
// needs CONFIG_MEMORY_HOTREMOVE, says "None" for blocks that straddle zones, and would
// mean reading every online block; node meminfo has no per-zone split at all.
// valid_zones of the *offline* block is still used, as a hint of what the kernel will
// accept for that block.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"

namespace guestkit::plugins::memory {

struct ZoneTotals {
  std::uint64_t kernel = 0;   // bytes present in kernel zones (DMA, DMA32, Normal, HighMem)
  std::uint64_t movable = 0;  // bytes present in ZONE_MOVABLE
};

// Sums "present" pages over every node; ZONE_DEVICE is not memory we online and is
// left out. std::nullopt when the text has no zone with a present count.
std::optional<ZoneTotals> parse_zoneinfo(std::string_view text, std::uint64_t page_size);

struct Decision {
  std::string_view state;  // what to write to `state`: online, online_movable, online_kernel
  std::string why;         // for logs and --dry-run
};

// Decides for one offline block of `block_size` bytes.
//
// auto: online_movable while movable + block <= movable_ratio x kernel, else
// online_kernel. This is the kernel's own auto-movable rule (memory_hotplug.
// online_policy=auto-movable, ratio 301%), with one difference: the kernel weighs
// against boot memory only, we weigh against all kernel-zone memory, including blocks
// onlined as online_kernel since boot; they carry the kernel's structures just the
// same, and movable <= ratio x kernel holds either way.
// `valid_zones` (the block's attribute; "" when absent) overrides the ratio when the
// kernel offers only one kind of zone for the block: asking for the other would only
// be refused. With no zone sizes (`zones` empty) auto writes plain "online" and lets
// the kernel pick.
// `explain` = false leaves `why` empty: a sweep over thousands of blocks that nobody
// reads the reasons of saves their formatting.
Decision decide(const core::MemoryConfig& config, const std::optional<ZoneTotals>& zones,
                std::uint64_t block_size, std::string_view valid_zones, bool explain = true);

// Books a block onlined into `state` (as if the kernel had), so the next decision of
// the same sweep sees it without re-reading /proc/zoneinfo.
void account(ZoneTotals& zones, std::string_view state, std::uint64_t block_size);

}  // namespace guestkit::plugins::memory
