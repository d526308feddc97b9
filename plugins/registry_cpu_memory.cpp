// vCPUs and memory: guestkit-cpu and guestkit-memory link only these, so an event
// loads no libmount (whose libselinux constructor alone costs about a millisecond).
// Rows sorted by name; numbers are stable (users order their own plugins by them).

#include "plugins/cpu/online_cpu.hpp"
#include "plugins/memory/online_memory.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {
namespace {

constexpr BuiltinPlugin kTable[] = {
    {"10-online-cpu", "cpu-add", "cpu", false, "brings a hot-added vCPU online",
     &cpu::online_cpu},
    {"10-online-memory", "memory-add", "memory", false,
     "brings a hot-added memory block online (memory.online_policy)", &memory::online_memory},
    {"20-coldplug-cpus", "mount", "cpu", false, "brings every offline hotpluggable vCPU online",
     &cpu::coldplug_cpus},
    {"21-coldplug-memory", "mount", "memory", false,
     "brings every offline memory block online (memory.online_policy)", &memory::coldplug_memory},
};

}  // namespace

std::span<const BuiltinPlugin> cpu_memory_plugins() { return kTable; }

}  // namespace guestkit::plugins
