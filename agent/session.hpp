#pragma once
// One connection: the agent's side of the protocol on a connected stream socket
// (inetd's fd 0, or one accepted by --listen), on Boost.Asio with two deadlines:
// agent.read_timeout for each message and agent.session_timeout for the whole
// connection. The peer address is checked against agent.allow_from before anything
// is read.

#include "agent/crypto.hpp"
#include "agent/ops.hpp"
#include "core/result.hpp"

namespace guestkit::agent {

// Runs the session on `fd` (takes ownership) until the peer leaves, a deadline
// passes or the protocol ends it. `key` is null when there is no usable key.
// Returns 0, or 2 when the socket was unusable.
int run_session(AgentState& state, int fd, const SecretBytes* key);

}  // namespace guestkit::agent
