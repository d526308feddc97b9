// The default-route policy: one IPv4 default route, via the first public interface.

#include "plugins/iface/route_policy.hpp"

#include <catch2/catch.hpp>

namespace nl = guestkit::core::netlink;
namespace iface = guestkit::plugins::iface;

namespace {

nl::Ipv4 ip(const char* s) {
  return *nl::Ipv4::parse(s);
}

nl::Ipv4Address addr(int ifindex, const char* a, unsigned scope = 0) {
  return {ifindex, ip(a), 24, scope};
}

nl::Ipv4Route def(int ifindex, const char* gw, std::uint32_t metric,
                  std::uint32_t table = nl::kMainTable) {
  nl::Ipv4Route r;
  r.ifindex = ifindex;
  r.gateway = ip(gw);
  r.priority = metric;
  r.table = table;
  return r;
}

std::vector<int> removed_on(const iface::RouteDecision& d) {
  std::vector<int> out;
  for (const auto& r : d.remove) out.push_back(r.ifindex);
  return out;
}

}  // namespace

TEST_CASE("route policy: public means not RFC 1918, loopback, link-local or 0/8",
          "[route-policy]") {
  for (const char* pub : {"192.0.2.10", "198.51.100.7", "203.0.113.1", "8.8.8.8", "172.15.255.255",
                          "172.32.0.1", "192.169.0.1", "100.64.0.1", "11.0.0.1"}) {
    INFO(pub);
    CHECK(iface::is_public(ip(pub)));
  }
  for (const char* priv : {"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254",
                           "192.168.1.1", "127.0.0.1", "169.254.3.4", "0.1.2.3"}) {
    INFO(priv);
    CHECK_FALSE(iface::is_public(ip(priv)));
  }
}

TEST_CASE(
    "route policy: the first public interface with a route keeps it and the others lose theirs",
    "[route-policy]") {
  // 2: public (first), 3: private, 4: public too but later.
  const std::set<int> handled{2, 3, 4};
  const std::vector<nl::Ipv4Address> addrs{addr(2, "192.0.2.10"), addr(3, "10.77.0.5"),
                                           addr(4, "198.51.100.9")};
  auto d = iface::decide_default_routes(
      handled, addrs,
      {def(3, "10.77.0.1", 1027), def(2, "192.0.2.1", 1026), def(4, "198.51.100.1", 1028)});
  CHECK(d.keep_ifindex == 2);
  CHECK(removed_on(d) == std::vector<int>{3, 4});

  // The private interface came first and holds the only route: nothing is removed
  // until a public interface has one (never leave the VM without a default route).
  d = iface::decide_default_routes(handled, addrs, {def(3, "10.77.0.1", 1027)});
  CHECK(d.keep_ifindex == 0);
  CHECK(d.remove.empty());
  CHECK(d.why.find("no interface with a public address has a default route") == 0);

  // The first public one has no route (static, no gateway): the next public one keeps its.
  d = iface::decide_default_routes(handled, addrs,
                                   {def(3, "10.77.0.1", 1027), def(4, "198.51.100.1", 1028)});
  CHECK(d.keep_ifindex == 4);
  CHECK(removed_on(d) == std::vector<int>{3});
}

TEST_CASE("route policy: only private addresses, or only routes elsewhere: nothing to do",
          "[route-policy]") {
  const std::set<int> handled{2, 3};
  auto d = iface::decide_default_routes(handled, {addr(2, "10.0.0.2"), addr(3, "192.168.0.3")},
                                        {def(2, "10.0.0.1", 1026), def(3, "192.168.0.1", 1027)});
  CHECK(d.keep_ifindex == 0);
  CHECK(d.remove.empty());
  CHECK(d.why == "no handled interface holds a public address");
}

TEST_CASE("route policy: unhandled interfaces, other tables and link-scope addresses do not count",
          "[route-policy]") {
  const std::set<int> handled{2, 3};
  // 9 is a VPN with a public address and a default route: neither chosen nor touched.
  const std::vector<nl::Ipv4Address> addrs{addr(9, "203.0.113.9"), addr(2, "192.0.2.10", 253),
                                           addr(3, "198.51.100.3")};
  auto d =
      iface::decide_default_routes(handled, addrs,
                                   {def(9, "203.0.113.1", 0), def(2, "192.0.2.1", 1026),
                                    def(3, "198.51.100.1", 1027), def(2, "192.0.2.1", 5, 100)});
  CHECK(d.keep_ifindex == 3);  // 2's public address is link-scope only
  CHECK(removed_on(d) == std::vector<int>{2});
  CHECK(d.remove.front().table == nl::kMainTable);
}

TEST_CASE("route policy: two default routes on the kept interface: the lower metric stays",
          "[route-policy]") {
  auto d = iface::decide_default_routes({2}, {addr(2, "192.0.2.10")},
                                        {def(2, "192.0.2.1", 1026), def(2, "192.0.2.254", 100)});
  CHECK(d.keep_ifindex == 2);
  REQUIRE(d.remove.size() == 1);
  CHECK(d.remove.front().priority == 1026);
}

TEST_CASE("route policy: when the kept route is gone a removed one comes back", "[route-policy]") {
  const std::set<int> handled{3, 4, 5};
  const std::vector<nl::Ipv4Address> addrs{addr(3, "10.77.0.5"), addr(4, "198.51.100.9"),
                                           addr(5, "10.78.0.5")};
  // Somebody still has a default route: nothing to restore.
  CHECK(iface::choose_restore(handled, {3, 4}, addrs, {def(5, "10.78.0.1", 1029)}) == 0);
  // None left: a public one first, whatever its index...
  CHECK(iface::choose_restore(handled, {3, 4, 5}, addrs, {}) == 4);
  // ... else the lowest index.
  CHECK(iface::choose_restore(handled, {3, 5}, addrs, {}) == 3);
  // Only what the policy removed, and only handled interfaces still present.
  CHECK(iface::choose_restore(handled, {}, addrs, {}) == 0);
  CHECK(iface::choose_restore(handled, {7}, addrs, {}) == 0);
  // A default route via an unhandled interface (a VPN) does not count as one left.
  CHECK(iface::choose_restore(handled, {5}, addrs, {def(9, "203.0.113.1", 0)}) == 5);
}
