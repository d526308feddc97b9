#pragma once
// What a boot-time sweep over CPUs or memory blocks did (--coldplug, 20-coldplug-cpus,
// 21-coldplug-memory): counts for the log, the failures one by one.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {

struct SweepReport {
  std::string what;               // "cpu", "memory block": for messages
  std::string prefix;             // of kernel names: "cpu", "memory"
  std::size_t seen = 0;           // hotpluggable objects looked at
  std::vector<unsigned> onlined;  // brought online (would have been, in dry-run)
  std::size_t already = 0;        // online before we looked
  // Refused or unreadable, by id; the sweep went on with the others.
  std::vector<std::pair<unsigned, core::Error>> failures;
  std::string skipped;   // why nothing was attempted at all, else ""
  bool dry_run = false;  // onlined means "would have been"
  std::chrono::nanoseconds duration{};
};

// One line: "2 of 6 cpus brought online (cpu4-5), 4 already online, 0 failed (0.3 ms)".
// In dry-run: "would bring 2 of 6 cpus online (cpu4-5), ...".
std::string describe(const SweepReport& report);

// For the caller that decides: every failure at warning (with the kernel's reason),
// then the summary at info.
void log_report(const SweepReport& report);

// For the plugin runner: changed, unchanged or skipped, or an Error naming the objects
// left offline ("2 memory blocks left offline: memory5,9").
core::Result<Outcome> outcome(const SweepReport& report);

}  // namespace guestkit::plugins
