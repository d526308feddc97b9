#pragma once
// Who is on the other end of a connection, and whether agent.allow_from lets them
// talk to us: checked before anything is read.

#include <sys/socket.h>

#include <string>
#include <vector>

namespace guestkit::agent {

// Peer classes that are not socket families: the serial transport's (serial.cpp).
inline constexpr int kPeerVirtio = AF_MAX + 1;  // the host, through a virtio-serial port
inline constexpr int kPeerSerial = AF_MAX + 2;  // the far end of any other serial line (a tty)

struct Peer {
  int family = AF_UNSPEC;
  unsigned char addr[16] = {};   // IPv4 (4 bytes) or IPv6 (16); unused otherwise
  std::string text = "unknown";  // for the log: 192.0.2.7:51234, [::1]:5, unix, vsock:CID:PORT
};

// getpeername(2) of `fd`, described.
Peer describe_peer(int fd);

// Whether a peer may talk to us: `allow` holds CIDRs, "unix", "vsock", "virtio" and
// "serial" (family kPeerVirtio, kPeerSerial); empty allows all. `addr` is the peer's address (4 or 16 bytes per family; unused otherwise).
bool peer_allowed(const std::vector<std::string>& allow, int family, const unsigned char* addr);

}  // namespace guestkit::agent
