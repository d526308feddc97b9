// guestkit-iface: a network interface was attached or detached (udev, or the
// guestkit-iface@.service unit), or the boot asks for every one present.

#include <iostream>

#include "hotplug/driver.hpp"
#include "plugins/iface/coldplug.hpp"
#include "plugins/iface/iface.hpp"

namespace gk = guestkit;

int main(int argc, char** argv, char** envp) {
  gk::hotplug::HotplugSpec spec;
  spec.tool.name = "guestkit-iface";
  spec.tool.synopsis = "[OPTION]... [add|remove IFACE]";
  spec.tool.summary =
      "Bring an attached network interface up with DHCP and one sane default route.";
  spec.tool.description =
      "Without ACTION IFACE the event is read from the udev environment (ACTION,\n"
      "INTERFACE, SUBSYSTEM=net). Interfaces are chosen by iface.match in guestkit.yml;\n"
      "DHCP goes to systemd-networkd, NetworkManager or a client guestkit runs\n"
      "(iface.backend). Plugins: trigger iface-add (10-up-iface, 20-dhcp-iface,\n"
      "30-route-iface, 40-tune-iface, 90-hook-attach-iface) and iface-remove\n"
      "(10-hook-detach-iface, 20-dhcp-iface, 30-route-iface), plus executables in\n"
      "/etc/guestkit/plugins.d/iface-add/ etc. An add waits at most iface.dhcp_timeout\n"
      "for the lease, the client's start included. 30-route-iface keeps one IPv4\n"
      "default route (iface.default_route) under the lock iface:routes, and records\n"
      "the routes it removed in /run/guestkit/iface/default-routes to give one back\n"
      "on remove. A failing hook makes the exit status 1. --detach (the udev rule\n"
      "without systemd) returns at once and leaves the work to a process of its own.\n"
      "\n"
      "Examples:\n"
      "  guestkit-iface add ens5\n"
      "  guestkit-iface --status\n"
      "  guestkit-iface --root /mnt/image --dry-run add eth1";
  spec.builtins = guestkit::plugins::iface_plugins();
  spec.subsystem = "net";
  spec.lock_prefix = "iface";
  spec.triggers = {{"add", "iface-add"}, {"remove", "iface-remove"}};
  spec.name_of = [](const gk::core::UdevEvent& ev) { return ev.interface; };
  spec.check_name = [](const std::string& name) {
    return gk::plugins::iface::check_iface_name(name);
  };
  spec.coldplug_events =
      [](gk::core::Context& ctx) -> gk::core::Result<std::vector<gk::plugins::EventRun>> {
    auto plan = gk::plugins::iface::coldplug_ifaces(ctx, gk::plugins::iface::ColdplugMode::here);
    if (!plan) return std::move(plan).error();
    return std::move(plan->events);
  };
  // The rule without systemd runs `guestkit-iface --detach`: an add waits for its lease.
  spec.detachable = true;
  spec.status = [](gk::core::Context& ctx) {
    return gk::plugins::iface::print_status(ctx, ctx.output());
  };
  return gk::hotplug::hotplug_main(spec, argc, argv, envp);
}
