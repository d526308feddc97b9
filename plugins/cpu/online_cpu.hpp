#pragma once
// vCPU hotplug: bring a hot-added CPU online (cpu-add), every offline CPU at boot
// (--coldplug, 20-coldplug-cpus), and say what is online (--status). Every path goes
// through the Context's Root, so tests and image builds act on a fake /sys.
//
// A CPU is hotpluggable when /sys/devices/system/cpu/cpuN/online exists. cpu0 is
// never touched (the boot CPU; on x86 it has no online file anyway), nor is a CPU
// without the file that the kernel's online list already shows: nothing to do there.

#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/result.hpp"
#include "plugins/sweep.hpp"

namespace guestkit::plugins::cpu {

// "cpu12" -> 12; Errc::bad_input for anything else ("cpu3/../..", "memory3", "cpu01").
core::Result<unsigned> check_name(std::string_view name);

enum class Result {
  onlined,
  already_online,
  not_hotpluggable,  // running, without an online file
  boot_cpu,          // cpu0
  no_sysfs,          // the root has no /sys/devices/system/cpu (an image being built)
};
struct Onlined {
  Result result;
  std::string detail;  // for the debug log
};

// Brings cpuN online: waits up to config.cpu.online_timeout (polling with a backoff
// from 1 ms to 64 ms) for its online file, then writes 1 unless it reads 1 already.
// Errc::timed_out when the file never came and the CPU is not online; the kernel's
// refusal of the write (EBUSY, EIO...) as its errno. Dry-run reports, writes nothing.
core::Result<Onlined> online(const core::Context& ctx, unsigned id);

// Every present CPU but cpu0, once, without waiting: those whose online file reads 0
// are brought online.
core::Result<SweepReport> coldplug(const core::Context& ctx);

struct Status {
  std::vector<unsigned> online;  // including CPUs without an online file that are up
  std::vector<unsigned> offline;
  std::vector<unsigned> fixed;  // no online file: not hotpluggable
};
core::Result<Status> status(const core::Root& root);
// online:  4 cpu0-3
// offline: 2 cpu4-5
// fixed:   1 cpu0 (no online file: not hotpluggable)
void print_status(std::ostream& os, const Status& status);

// The plugins (registry_cpu_memory.cpp).
core::Result<Outcome> online_cpu(PluginContext& p);     // 10-online-cpu (cpu-add)
core::Result<Outcome> coldplug_cpus(PluginContext& p);  // 20-coldplug-cpus (boot stage mount)

}  // namespace guestkit::plugins::cpu
