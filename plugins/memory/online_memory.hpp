#pragma once
// Memory hotplug: bring a hot-added memory block online in the zone memory.online_policy
// picks (memory-add), every offline block at boot (--coldplug, 21-coldplug-memory), and
// say what is online (--status). Paths go through the Context's Root.
//
// Memory blocks are /sys/devices/system/memory/memoryN; writing online_movable,
// online_kernel or online to an offline block's `state` onlines it. When the kernel
// onlines new blocks itself (auto_online_blocks is not "offline"), guestkit leaves
// memory to it unless memory.ignore_auto_online says otherwise.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/lock.hpp"
#include "core/result.hpp"
#include "plugins/memory/memory_zones.hpp"
#include "plugins/sweep.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::memory {

// "memory32" -> 32; Errc::bad_input for anything else.
core::Result<unsigned> check_name(std::string_view name);

enum class Result { onlined, already_online, left };
struct Onlined {
  Result result;
  std::string state;   // what was (or would be) written, for onlined
  std::string detail;  // why: the policy's reasoning, or why the block was left
};

// How a block's state is written: sysfs::Dir::write, unless a test stands in for the
// kernel's answers (EBUSY, EINVAL), which a file in a fake tree never gives.
using StateWriter = std::function<core::Status(const sysfs::Dir& block, std::string_view attr,
                                               std::string_view value)>;

// Everything a decision needs, read once per process: a sweep over thousands of
// blocks reads the zone sizes once and books each block it onlines itself.
class Onliner {
 public:
  // ENOENT when there is no /sys/devices/system/memory (a kernel without memory hotplug).
  // With the auto policy it holds the lock "memory-zones" until destroyed: a DIMM
  // arrives as dozens of blocks whose udev events run in parallel, and each must
  // weigh the zone sizes the previous ones left, not the sizes from before them all.
  static core::Result<Onliner> open(const core::Context& ctx);
  static core::Result<Onliner> open(core::Context&&) = delete;  // it keeps a pointer

  // Why nothing should be done at all (the kernel auto-onlines), or std::nullopt.
  std::optional<std::string> defer_reason() const;

  // Onlines memoryN if it is offline. The kernel's refusal (EBUSY, EINVAL...) is the
  // Error; a block someone else onlined meanwhile is already_online. `explain` fills
  // Onlined::detail with the policy's reasoning (always, in dry-run).
  core::Result<Onlined> online(unsigned id, bool explain = true);

  std::uint64_t block_size() const noexcept { return block_size_; }
  const std::string& auto_online() const noexcept { return auto_online_; }
  const std::optional<ZoneTotals>& zones() const noexcept { return zones_; }
  void set_writer(StateWriter write) { write_ = std::move(write); }

 private:
  Onliner(const core::Context& ctx, sysfs::Dir dir) : ctx_(&ctx), dir_(std::move(dir)) {}

  const core::Context* ctx_;  // must outlive the Onliner
  std::optional<core::Lock> zones_lock_;
  sysfs::Dir dir_;
  std::uint64_t block_size_ = 0;  // 0: unknown
  std::string auto_online_ = "offline";
  std::optional<ZoneTotals> zones_;  // std::nullopt: unknown
  StateWriter write_;                // empty: sysfs::Dir::write
};

// Every offline block, in address order, in this one process.
core::Result<SweepReport> coldplug(const core::Context& ctx);

struct Status {
  std::vector<unsigned> online, offline, other;  // other: going-offline and the like
  std::uint64_t block_size = 0;
  std::string auto_online;
  std::optional<ZoneTotals> zones;
};
core::Result<Status> status(const core::Context& ctx);
// online:  34 memory0-7,32-57 (4.2 GiB)
// offline: 2 memory58-59 (256 MiB)
// block size: 128 MiB
// kernel auto-online: offline
// policy: auto (movable_ratio 3)
// zones: kernel 4 GiB, movable 256 MiB
void print_status(std::ostream& os, const Status& status, const core::MemoryConfig& config);

// The plugins (registry_cpu_memory.cpp).
core::Result<Outcome> online_memory(PluginContext& p);    // 10-online-memory (memory-add)
// At boot, before 21-coldplug-memory's sweep: auto_online_blocks set to offline when the
// kernel was only built to online new memory itself (no memhp_default_state= on its
// command line), so that memory.online_policy decides; true when it was (or would be).
core::Result<bool> take_back_auto_online(const core::Context& ctx);
core::Result<Outcome> coldplug_memory(PluginContext& p);  // 21-coldplug-memory (boot stage mount)

}  // namespace guestkit::plugins::memory
