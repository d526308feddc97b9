#pragma once
// Handing an interface to DHCP, and taking it back: the work of 20-dhcp-iface.

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.hpp"
#include "plugins/iface/iface.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins::iface {

// Brings DHCP to a handled interface through the detected backend, records what was
// done in the state file, then waits up to iface.dhcp_timeout for the lease.
core::Result<Outcome> start_dhcp(const core::Context& ctx, const IfaceInfo& info);
// Undoes what the state file (and our files) say: stops our client or unit, removes
// our .network file or NetworkManager connection, removes the state files.
core::Result<Outcome> stop_dhcp(const core::Context& ctx, std::string_view name);

}  // namespace guestkit::plugins::iface
