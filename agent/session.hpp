#pragma once
// One connection: the agent's side of the protocol on a connected stream socket
// (inetd's fd 0, or one accepted by --listen), on Boost.Asio with two deadlines:
// agent.read_timeout for each message and agent.session_timeout for the whole
// connection. The peer address is checked against agent.allow_from before anything
// is read.

#include <string>
#include <vector>

#include "agent/crypto.hpp"
#include "agent/ops.hpp"
#include "core/result.hpp"

namespace guestkit::agent {

// Whether a peer may talk to us: `allow` holds CIDRs and "unix"; empty allows all.
// `addr` is the peer's address (4 or 16 bytes per family; unused for AF_UNIX).
bool peer_allowed(const std::vector<std::string>& allow, int family, const unsigned char* addr);

// Runs the session on `fd` (takes ownership) until the peer leaves, a deadline
// passes or the protocol ends it. `key` is null when there is no usable key.
// Returns 0, or 2 when the socket was unusable.
int run_session(AgentState& state, int fd, const SecretBytes* key);

}  // namespace guestkit::agent
