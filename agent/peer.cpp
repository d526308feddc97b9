#include "agent/peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
// After sys/socket.h: linux/vm_sockets.h uses its types.
#include <linux/vm_sockets.h>

#include <charconv>
#include <cstring>

namespace guestkit::agent {
namespace {

bool prefix_match(const unsigned char* a, const unsigned char* b, unsigned bits) {
  for (unsigned i = 0; i < bits / 8; ++i)
    if (a[i] != b[i]) return false;
  if (bits % 8 == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff << (8 - bits % 8));
  return (a[bits / 8] & mask) == (b[bits / 8] & mask);
}

}  // namespace

Peer describe_peer(int fd) {
  Peer p;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return p;
  p.family = ss.ss_family;
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    std::memcpy(p.addr, &in->sin_addr, 4);
    p.text = std::string(::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) + ":" +
             std::to_string(ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    std::memcpy(p.addr, &in6->sin6_addr, 16);
    p.text = "[" + std::string(::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf)) +
             "]:" + std::to_string(ntohs(in6->sin6_port));
  } else if (ss.ss_family == AF_UNIX) {
    p.text = "unix";
  } else if (ss.ss_family == AF_VSOCK) {
    const auto* vm = reinterpret_cast<const sockaddr_vm*>(&ss);
    p.text = "vsock:" + std::to_string(vm->svm_cid) + ":" + std::to_string(vm->svm_port);
  } else {
    p.text = "family " + std::to_string(ss.ss_family);
  }
  return p;
}

bool peer_allowed(const std::vector<std::string>& allow, int family, const unsigned char* addr) {
  if (allow.empty()) return true;
  for (const auto& entry : allow) {
    if (entry == "unix" || entry == "vsock" || entry == "virtio" || entry == "serial") {
      const int named = entry == "unix"     ? AF_UNIX
                        : entry == "vsock"  ? AF_VSOCK
                        : entry == "virtio" ? kPeerVirtio
                                            : kPeerSerial;
      if (family == named) return true;
      continue;
    }
    const auto slash = entry.find('/');
    const std::string text = entry.substr(0, slash);
    unsigned char net[16] = {};
    int net_family = AF_UNSPEC;
    if (::inet_pton(AF_INET, text.c_str(), net) == 1)
      net_family = AF_INET;
    else if (::inet_pton(AF_INET6, text.c_str(), net) == 1)
      net_family = AF_INET6;
    else
      continue;
    unsigned bits = net_family == AF_INET ? 32 : 128;
    if (slash != std::string::npos)
      std::from_chars(entry.data() + slash + 1, entry.data() + entry.size(), bits);
    const unsigned char* peer = addr;
    unsigned char mapped[4];
    int peer_family = family;
    // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && net_family == AF_INET && std::memcmp(addr, kMappedPrefix, 12) == 0) {
      std::memcpy(mapped, addr + 12, 4);
      peer = mapped;
      peer_family = AF_INET;
    }
    if (peer_family == net_family && prefix_match(peer, net, bits)) return true;
  }
  return false;
}

}  // namespace guestkit::agent
