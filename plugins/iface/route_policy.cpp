#include "plugins/iface/route_policy.hpp"

#include <algorithm>

namespace guestkit::plugins::iface {
namespace {

bool in(std::uint32_t host, std::uint32_t net, int bits) {
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (host & mask) == net;
}

}  // namespace

bool is_public(core::netlink::Ipv4 address) {
  const std::uint32_t a = address.host();
  return !(in(a, 0x0A000000, 8)       // 10/8        RFC 1918
           || in(a, 0xAC100000, 12)   // 172.16/12   RFC 1918
           || in(a, 0xC0A80000, 16)   // 192.168/16  RFC 1918
           || in(a, 0x7F000000, 8)    // 127/8       loopback
           || in(a, 0xA9FE0000, 16)   // 169.254/16  link-local
           || in(a, 0x00000000, 8));  // 0/8         "this network"
}

RouteDecision decide_default_routes(const std::set<int>& handled,
                                    const std::vector<core::netlink::Ipv4Address>& addresses,
                                    const std::vector<core::netlink::Ipv4Route>& routes) {
  RouteDecision d;
  std::vector<core::netlink::Ipv4Route> defaults;
  for (const auto& r : routes)
    if (r.is_default() && r.table == core::netlink::kMainTable && handled.count(r.ifindex))
      defaults.push_back(r);
  std::set<int> with_route;
  for (const auto& r : defaults) with_route.insert(r.ifindex);
  std::set<int> public_ifaces;
  for (const auto& a : addresses)
    if (a.scope == 0 && is_public(a.address) && handled.count(a.ifindex))
      public_ifaces.insert(a.ifindex);

  // std::set is ordered: the first match is the lowest index.
  for (int index : public_ifaces) {
    if (with_route.count(index)) {
      d.keep_ifindex = index;
      break;
    }
  }
  if (d.keep_ifindex == 0) {
    // Removing routes now could leave the VM with none at all.
    d.why = public_ifaces.empty() ? "no handled interface holds a public address"
                                  : "no interface with a public address has a default route yet";
    return d;
  }
  // On the chosen interface the lowest metric stays (the one the kernel uses).
  const core::netlink::Ipv4Route* best = nullptr;
  for (const auto& r : defaults)
    if (r.ifindex == d.keep_ifindex && (!best || r.priority < best->priority)) best = &r;
  for (const auto& r : defaults)
    if (&r != best) d.remove.push_back(r);
  d.why = "interface #" + std::to_string(d.keep_ifindex) +
          " is the first with a public address and a default route";
  return d;
}

int choose_restore(const std::set<int>& handled, const std::set<int>& removed,
                   const std::vector<core::netlink::Ipv4Address>& addresses,
                   const std::vector<core::netlink::Ipv4Route>& routes) {
  for (const auto& r : routes)
    if (r.is_default() && r.table == core::netlink::kMainTable && handled.count(r.ifindex))
      return 0;
  int best = 0;
  bool best_public = false;
  for (int index : removed) {  // ascending
    if (!handled.count(index)) continue;
    const bool pub = std::any_of(addresses.begin(), addresses.end(), [&](const auto& a) {
      return a.ifindex == index && a.scope == 0 && is_public(a.address);
    });
    if (best == 0 || (pub && !best_public)) {
      best = index;
      best_public = pub;
    }
  }
  return best;
}

}  // namespace guestkit::plugins::iface
