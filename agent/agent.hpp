#pragma once
// guestkit-agent's program: what main runs after parsing the command line.

#include "core/cli.hpp"
#include "core/context.hpp"

namespace guestkit::agent {

const core::ToolSpec& agent_tool();

// Stops anything from reaching fd 2 (under inetd it is the peer's socket): stderr
// goes to /dev/null and std::cerr into a buffer that is logged instead. Call first.
void silence_stderr();
// What was written to std::cerr since silence_stderr (usage errors), for the log.
std::string take_silenced_stderr();

// Logging, configuration, key; then --enable/--disable, --listen, or one session on
// fd 0. Returns the exit code.
int run_agent(const core::CliArgs& args);

// --listen SPEC: tcp:ADDR:PORT, unix:PATH, vsock:PORT. Forks one session per
// connection; returns only on a setup failure (exit code).
struct AgentState;
class SecretBytes;
int listen_and_serve(AgentState& state, const SecretBytes* key, const std::string& spec);

// --listen serial:PATH: one session after another on the character device PATH (a
// virtio-serial port, or a serial line), in this process (agent/serial.cpp). Reads the
// key and the instance id again for each session. Returns only on a setup failure.
int serve_serial(core::Context& ctx, bool auth_none, const std::string& path);

}  // namespace guestkit::agent
