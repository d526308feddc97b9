#pragma once
// Who is on the other end of a connection, and whether agent.allow_from lets them
// talk to us: checked before anything is read.

#include <sys/socket.h>

#include <string>
#include <vector>

namespace guestkit::agent {

struct Peer {
  int family = AF_UNSPEC;
  unsigned char addr[16] = {};   // IPv4 (4 bytes) or IPv6 (16); unused otherwise
  std::string text = "unknown";  // for the log: 192.0.2.7:51234, [::1]:5, unix, vsock:CID:PORT
};

// getpeername(2) of `fd`, described.
Peer describe_peer(int fd);

// Whether a peer may talk to us: `allow` holds CIDRs, "unix" and "vsock"; empty allows
// all. `addr` is the peer's address (4 or 16 bytes per family; unused otherwise).
bool peer_allowed(const std::vector<std::string>& allow, int family, const unsigned char* addr);

}  // namespace guestkit::agent
