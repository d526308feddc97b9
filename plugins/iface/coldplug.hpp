#pragma once
// guestkit-iface --coldplug (and the boot plugin 30-coldplug-ifaces): the iface-add
// plugins for every handled interface present now; --status: what guestkit manages.

#include <iosfwd>

#include "core/context.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins::iface {

struct ColdplugResult {
  int exit_code = 0;        // the worst of the runs (core::ExitCode)
  std::size_t handled = 0;  // interfaces the iface-add plugins ran for
  std::size_t changed = 0;  // ... of which some plugin changed something
  std::vector<std::string> failed;
};
ColdplugResult coldplug_ifaces(core::Context& ctx);
// 30-coldplug-ifaces (boot stage "mount"): the above, as a plugin.
core::Result<Outcome> coldplug_ifaces(PluginContext& p);

// One line per interface handled now or with state left: name, index, kind, what
// does its DHCP, IPv4 addresses and default routes (live system only).
int print_status(core::Context& ctx, std::ostream& out);

}  // namespace guestkit::plugins::iface
