// guestkit-cpu: bring hot-added vCPUs online. Run by udev (85-guestkit-cpu-memory.rules),
// by hand ("add cpuN"), at boot (--coldplug), or to look (--status).

#include "hotplug/coldplug.hpp"
#include "hotplug/driver.hpp"
#include "plugins/cpu/online_cpu.hpp"

namespace gk = guestkit;
namespace cpu = guestkit::plugins::cpu;

int main(int argc, char** argv, char** envp) {
  gk::hotplug::HotplugSpec spec;
  spec.tool.name = "guestkit-cpu";
  spec.tool.synopsis = "[OPTION]... [add cpuN | --coldplug | --status]";
  spec.tool.summary = "Bring hot-added vCPUs online.";
  spec.tool.description =
      "Without arguments the event is read from the udev environment (ACTION, SUBSYSTEM=cpu,\n"
      "DEVPATH). The cpu-add plugins run in name order: the built-in 10-online-cpu waits up\n"
      "to cpu.online_timeout for /sys/devices/system/cpu/cpuN/online and writes 1 unless the\n"
      "CPU is online; cpu0 and CPUs without an online file are left alone. Then executables\n"
      "in /usr/lib/guestkit/plugins.d/cpu-add/ and /etc/guestkit/plugins.d/cpu-add/ run with\n"
      "the CPU's name as argument.\n"
      "\n"
      "Examples:\n"
      "  guestkit-cpu add cpu2\n"
      "  guestkit-cpu --coldplug\n"
      "  guestkit-cpu --root /mnt/image --status";
  spec.builtins = guestkit::plugins::cpu_memory_plugins();
  spec.subsystem = "cpu";
  spec.lock_prefix = "cpu";
  spec.triggers = {{"add", "cpu-add"}};
  spec.check_name = [](const std::string& name) -> gk::core::Result<std::string> {
    if (auto id = cpu::check_name(name); !id) return std::move(id).error();
    return name;
  };
  spec.coldplug = [&spec](gk::core::Context& ctx) {
    return gk::hotplug::run_coldplug(ctx, spec.tool, "cpu", cpu::coldplug);
  };
  spec.status = [&spec](gk::core::Context& ctx) {
    auto status = cpu::status(ctx.root);
    if (!status) {
      gk::core::report_fatal(spec.tool, status.error().message());
      return static_cast<int>(gk::core::kExitFailed);
    }
    cpu::print_status(ctx.output(), *status);
    return static_cast<int>(gk::core::kExitOk);
  };
  return gk::hotplug::hotplug_main(spec, argc, argv, envp);
}
