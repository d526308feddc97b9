#pragma once
// /run/guestkit/iface/default-routes: the default routes the route policy removed (an
// undo record, plugins/undo_record.hpp: JSON; the older line format is still read),
// to give one back when the interface that kept the default route goes away.
//
// The route policy is the only writer, and it writes only under the lock
// `iface:routes` (kRoutesLock), around gathering the state, deciding, changing routes
// and recording: two NICs attached at once cannot lose each other's entries. It is
// not kept in the interfaces' own state files, which their own events rewrite under
// their own locks (a hook run, a DHCP restart) and would overwrite an entry made
// meanwhile.

#include <cstdint>
#include <string>
#include <vector>

#include "core/netlink.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::iface {

// Not "iface-routes": each event holds "iface-<its interface>", and an interface may be
// named "routes"; no interface name holds a ':'.
inline constexpr const char* kRoutesLock = "iface:routes";

struct RemovedRoute {
  std::string name;  // interface name, for the log and its state file
  int ifindex = 0;   // the interface it was removed from (names can be reused)
  core::netlink::Ipv4 gateway;
  std::uint32_t metric = 0;
  bool operator==(const RemovedRoute&) const = default;
};

std::string removed_routes_path();
// Empty when the file does not exist. Anything unreadable or malformed is an error
// naming the file and line (never read as "nothing removed": that would be written
// back and lose the entries).
core::Result<std::vector<RemovedRoute>> read_removed_routes(const core::Root& root);
// Replaces the file atomically; an empty list removes it.
core::Status write_removed_routes(const core::Root& root, const std::vector<RemovedRoute>& routes);

}  // namespace guestkit::plugins::iface
