// guestkit-agent: first-boot provisioning, one process per connection (inetd,
// xinetd, systemd Accept=yes) with the socket on fd 0, or --listen. Never writes to
// stderr: under inetd that is the peer.

#include <variant>

#include "agent/agent.hpp"
#include "core/log.hpp"

int main(int argc, char** argv) {
  namespace ga = guestkit::agent;
  ga::silence_stderr();
  auto parsed = guestkit::core::parse_cli(ga::agent_tool(), argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) {
    const std::string text = ga::take_silenced_stderr();
    if (!text.empty()) {
      guestkit::core::log_setup(
          {"guestkit-agent", guestkit::core::LogSink::syslog, guestkit::core::Level::info, {}});
      guestkit::core::log_error(text);
    }
    return *code;
  }
  return ga::run_agent(std::get<guestkit::core::CliArgs>(parsed));
}
