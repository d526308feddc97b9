#pragma once
// A small rtnetlink client (NETLINK_ROUTE, no library): dump links, IPv4 addresses and
// IPv4 routes, delete one route, and wait for an address to appear. It talks to the
// network namespace of the calling thread, which is what lets the integration tests
// run the real thing inside namespaces of their own.
//
// Only for the live system: callers check Root::is_host() first.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace guestkit::core::netlink {

// An IPv4 address in network byte order, as the kernel hands it over.
struct Ipv4 {
  std::uint32_t be = 0;

  static std::optional<Ipv4> parse(std::string_view dotted);
  std::string str() const;  // "192.0.2.10"
  // Host-order value, for range checks.
  std::uint32_t host() const;
  bool operator==(const Ipv4&) const = default;
};

struct Link {
  int index = 0;
  std::string name;
  unsigned flags = 0;  // IFF_*
};

struct Ipv4Address {
  int ifindex = 0;
  Ipv4 address;
  int prefix_len = 0;
  unsigned scope = 0;  // RT_SCOPE_*: 0 = universe (global)
};

struct Ipv4Route {
  int ifindex = 0;  // 0 when the route has no single output interface (multipath)
  Ipv4 dst;
  int dst_len = 0;
  std::optional<Ipv4> gateway;
  std::uint32_t priority = 0;  // the metric
  std::uint32_t table = 0;     // RT_TABLE_MAIN = 254
  unsigned protocol = 0;       // RTPROT_*: boot, dhcp, static...
  unsigned type = 0;           // RTN_*

  bool is_default() const { return dst_len == 0; }
  std::string describe() const;  // "default via 192.0.2.1 dev #3 metric 1026"
};

inline constexpr std::uint32_t kMainTable = 254;

Result<std::vector<Link>> list_links();
Result<std::vector<Ipv4Address>> list_ipv4_addresses();
// Unicast routes of the main table.
Result<std::vector<Ipv4Route>> list_ipv4_routes();
// Adds a unicast route (destination, table, interface, gateway, metric), marked as
// DHCP's (RTPROT_DHCP); EEXIST when it is there already.
Status add_route(const Ipv4Route& route);
// Deletes exactly this route (destination, table, interface, gateway, metric).
Status delete_route(const Ipv4Route& route);

// Waits until interface `ifindex` holds a global IPv4 address (one already there counts)
// and returns it; std::nullopt when `timeout` passes first. Event driven: subscribes to
// address notifications before it looks, so an address that arrives in between is seen.
Result<std::optional<Ipv4Address>> wait_for_ipv4_address(int ifindex,
                                                         std::chrono::milliseconds timeout);

// Waits until the main table holds a default route through `ifindex` (one already
// there counts): true. False when `timeout` passes first, or when `stop` returns true;
// `stop` is asked after every route notification and at least every `recheck` (for
// what no route notification tells, such as a DHCP client's lease file). Event driven
// like wait_for_ipv4_address: a DHCP client's script adds the route a moment after the
// address, and polling for it took the CPU that script needed (bench/README.md,
// seed-first-boot).
Result<bool> wait_for_ipv4_default_route(int ifindex, std::chrono::milliseconds timeout,
                                         const std::function<bool()>& stop,
                                         std::chrono::milliseconds recheck);

}  // namespace guestkit::core::netlink
