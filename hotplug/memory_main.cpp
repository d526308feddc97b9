// guestkit-memory: bring hot-added memory blocks online, in the zone the policy picks.
// Run by udev (85-guestkit-cpu-memory.rules), by hand ("add memoryN"), at boot
// (--coldplug), or to look (--status).

#include "hotplug/coldplug.hpp"
#include "hotplug/driver.hpp"
#include "plugins/memory/online_memory.hpp"

namespace gk = guestkit;
namespace memory = guestkit::plugins::memory;

int main(int argc, char** argv, char** envp) {
  gk::hotplug::HotplugSpec spec;
  spec.tool.name = "guestkit-memory";
  spec.tool.synopsis = "[OPTION]... [add memoryN | --coldplug | --status]";
  spec.tool.summary = "Bring hot-added memory blocks online.";
  spec.tool.description =
      "Without arguments the event is read from the udev environment (ACTION,\n"
      "SUBSYSTEM=memory, DEVPATH). The memory-add plugins run in name order: the built-in\n"
      "10-online-memory writes memory.online_policy's choice to\n"
      "/sys/devices/system/memory/memoryN/state if the block is offline:\n"
      "  auto            online_movable while movable memory stays within movable_ratio\n"
      "                  times the kernel-zone memory, else online_kernel (default)\n"
      "  online_movable  unpluggable again; online_kernel: usable by the kernel itself\n"
      "  online          the kernel's default zone\n"
      "Nothing is done when the kernel onlines new memory itself (auto_online_blocks),\n"
      "unless memory.ignore_auto_online is true. Then executables in\n"
      "/usr/lib/guestkit/plugins.d/memory-add/ and /etc/guestkit/plugins.d/memory-add/ run\n"
      "with the block's name as argument.\n"
      "\n"
      "Examples:\n"
      "  guestkit-memory add memory32\n"
      "  guestkit-memory --coldplug\n"
      "  guestkit-memory --status";
  spec.builtins = guestkit::plugins::cpu_memory_plugins();
  spec.subsystem = "memory";
  spec.lock_prefix = "memory";
  spec.triggers = {{"add", "memory-add"}};
  spec.check_name = [](const std::string& name) -> gk::core::Result<std::string> {
    if (auto id = memory::check_name(name); !id) return std::move(id).error();
    return name;
  };
  spec.coldplug = [&spec](gk::core::Context& ctx) {
    return gk::hotplug::run_coldplug(ctx, spec.tool, "memory", memory::coldplug);
  };
  spec.status = [&spec](gk::core::Context& ctx) {
    auto status = memory::status(ctx);
    if (!status) {
      gk::core::report_fatal(spec.tool, status.error().message());
      return static_cast<int>(gk::core::kExitFailed);
    }
    memory::print_status(ctx.output(), *status, ctx.config.memory);
    return static_cast<int>(gk::core::kExitOk);
  };
  return gk::hotplug::hotplug_main(spec, argc, argv, envp);
}
