#pragma once
// The default-route policy (from the old manage_iface): a VM with several NICs keeps
// one IPv4 default route, via the first interface (lowest index, the first attached)
// that holds a public address and has a default route; the others are removed.
// "Public" is anything but RFC 1918, loopback, link-local and 0.0.0.0/8: a VM's
// private NIC must never take the route its public one needs.
//
// Pure: the caller gathers the state (netlink) and applies the decision.

#include <set>
#include <string>
#include <vector>

#include "core/netlink.hpp"

namespace guestkit::plugins::iface {

bool is_public(core::netlink::Ipv4 address);

struct RouteDecision {
  int keep_ifindex = 0;  // 0: nothing kept on purpose (no public interface with a route)
  std::vector<core::netlink::Ipv4Route> remove;
  std::string why;
};

// `handled`: interface indexes guestkit manages; default routes via other interfaces
// (a VPN, a container bridge) are never touched, nor counted.
RouteDecision decide_default_routes(const std::set<int>& handled,
                                    const std::vector<core::netlink::Ipv4Address>& addresses,
                                    const std::vector<core::netlink::Ipv4Route>& routes);

// After an interface went away: when no handled interface has a default route any
// more, the one whose default route the policy removed earlier (`removed`) that gets
// it back: public ones first, then the lowest index. 0 when none is needed or known.
int choose_restore(const std::set<int>& handled, const std::set<int>& removed,
                   const std::vector<core::netlink::Ipv4Address>& addresses,
                   const std::vector<core::netlink::Ipv4Route>& routes);

}  // namespace guestkit::plugins::iface
