#pragma once
// Network device ioctls: link flags (SIOCGIFFLAGS/SIOCSIFFLAGS) and the ethtool channel
// counts (SIOCETHTOOL with ETHTOOL_GCHANNELS/SCHANNELS), instead of running ip or
// ethtool. Like netlink.hpp they act on the calling thread's network namespace, so
// only for the live system.

#include <cstdint>
#include <string_view>

#include "core/result.hpp"

namespace guestkit::core::netdev {

// Interface index, or an error (ENODEV when there is no such interface).
Result<int> ifindex(std::string_view ifname);

Result<unsigned> link_flags(std::string_view ifname);
// Sets IFF_UP. Returns false when the link was up already.
Result<bool> set_link_up(std::string_view ifname);

struct Channels {
  std::uint32_t max_rx = 0, max_tx = 0, max_other = 0, max_combined = 0;
  std::uint32_t rx = 0, tx = 0, other = 0, combined = 0;
};
// EOPNOTSUPP when the driver has no channel support.
Result<Channels> get_channels(std::string_view ifname);
Status set_combined_channels(std::string_view ifname, std::uint32_t combined);

}  // namespace guestkit::core::netdev
