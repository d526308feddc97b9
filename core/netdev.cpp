#include "core/netdev.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "core/fd.hpp"

namespace guestkit::core::netdev {
namespace {

// Any socket will do for these ioctls; a datagram one needs no address or privilege
// to open (the set calls still need CAP_NET_ADMIN).
Result<UniqueFd> control_socket() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_error("socket for interface ioctls");
  return fd;
}

Result<ifreq> request_for(std::string_view ifname) {
  ifreq ifr{};
  if (ifname.empty() || ifname.size() >= sizeof ifr.ifr_name)
    return make_error(Errc::bad_input, "interface name '" + std::string(ifname) + "'");
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  return ifr;
}

Status ethtool(std::string_view ifname, void* data, const char* what) {
  auto sock = control_socket();
  if (!sock) return std::move(sock).error();
  auto ifr = request_for(ifname);
  if (!ifr) return std::move(ifr).error();
  ifr->ifr_data = static_cast<char*>(data);
  if (::ioctl(sock->get(), SIOCETHTOOL, &*ifr) < 0)
    return errno_error(std::string(what) + " " + std::string(ifname));
  return {};
}

}  // namespace

Result<int> ifindex(std::string_view ifname) {
  auto ifr = request_for(ifname);
  if (!ifr) return std::move(ifr).error();
  unsigned index = ::if_nametoindex(ifr->ifr_name);
  if (index == 0) return errno_error("interface " + std::string(ifname));
  return static_cast<int>(index);
}

namespace {

// The interface's current flags, read into `ifr` (the request SIOCSIFFLAGS then reuses).
Status read_flags(int sock, ifreq& ifr, std::string_view ifname) {
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) return errno_error("get flags of " + std::string(ifname));
  return {};
}

}  // namespace

Result<unsigned> link_flags(std::string_view ifname) {
  auto sock = control_socket();
  if (!sock) return std::move(sock).error();
  auto ifr = request_for(ifname);
  if (!ifr) return std::move(ifr).error();
  if (auto r = read_flags(sock->get(), *ifr, ifname); !r) return std::move(r).error();
  return static_cast<unsigned>(static_cast<unsigned short>(ifr->ifr_flags));
}

Result<bool> set_link_up(std::string_view ifname) {
  auto sock = control_socket();
  if (!sock) return std::move(sock).error();
  auto ifr = request_for(ifname);
  if (!ifr) return std::move(ifr).error();
  if (auto r = read_flags(sock->get(), *ifr, ifname); !r) return std::move(r).error();
  if (ifr->ifr_flags & IFF_UP) return false;
  ifr->ifr_flags = static_cast<short>(ifr->ifr_flags | IFF_UP);
  if (::ioctl(sock->get(), SIOCSIFFLAGS, &*ifr) < 0)
    return errno_error("bring up " + std::string(ifname));
  return true;
}

Result<Channels> get_channels(std::string_view ifname) {
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  if (auto s = ethtool(ifname, &ch, "get channels of"); !s) return std::move(s).error();
  return Channels{ch.max_rx,   ch.max_tx,   ch.max_other,   ch.max_combined,
                  ch.rx_count, ch.tx_count, ch.other_count, ch.combined_count};
}

Status set_combined_channels(std::string_view ifname, std::uint32_t combined) {
  // SCHANNELS takes the whole set: read it first so rx/tx/other stay as they are.
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  if (auto s = ethtool(ifname, &ch, "get channels of"); !s) return s;
  ch.cmd = ETHTOOL_SCHANNELS;
  ch.combined_count = combined;
  return ethtool(ifname, &ch, "set channels of");
}

}  // namespace guestkit::core::netdev
