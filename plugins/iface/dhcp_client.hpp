#pragma once
// DHCP clients guestkit runs itself (backends ifupdown and none): which one, with
// which arguments, and how to find and stop the one running on an interface.
//
// Every client gets a pid file under /run/guestkit/iface/, so a remove stops exactly
// the process guestkit started. Never two clients on one interface: a client already
// running there, ours or not, means no new one.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/process.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::iface {

enum class Client { dhclient, dhcpcd, udhcpc };
std::string_view client_name(Client client);
std::optional<Client> client_from_name(std::string_view name);

// iface.dhcp_client, or the first of dhclient, dhcpcd, udhcpc installed in the root.
std::optional<Client> choose_client(const core::Root& root, const core::IfaceConfig& config);

struct ClientCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::chrono::milliseconds timeout{};  // for a detaching start (core::run)
};
// The command line for `name`. `foreground`: stay attached (guestkit-dhcp@.service);
// otherwise detach so the client outlives us, returning at once (dhclient, dhcpcd) or
// when the lease is there or its tries are spent (udhcpc), which takes at most
// `budget` (rounded down to whole seconds, at least 1 s): what is left of the
// caller's iface.dhcp_timeout. `pid_file` and `lease_file` are host paths.
ClientCommand client_command(Client client, std::string_view name, const std::string& pid_file,
                             const std::string& lease_file, std::uint32_t metric, bool foreground,
                             std::chrono::milliseconds budget);

// Processes in /proc (of the root) that are a DHCP client, by their comm and the
// argv[0] of their command line, and mention the interface as an argument; on the
// live system, only those in our own network namespace (a container's eth1 is not
// ours).
core::Result<std::vector<pid_t>> clients_on(const core::Root& root, std::string_view name);
// The pid in our pid file, if that process is still a client on this interface (a
// stale pid file or a recycled pid is not ours).
core::Result<std::optional<pid_t>> our_client(const core::Root& root, std::string_view name);

// our_client on the live system, as a handle: the process is opened by pidfd before
// its command line is checked, and stays that process until it is signalled (no
// check-then-kill window where a recycled pid would be hit).
core::Result<std::optional<core::Process>> open_our_client(const core::Root& root,
                                                           std::string_view name);

// SIGTERM, then SIGKILL after `grace`, through the handle. Live system only.
core::Status stop_process(const core::Process& process, std::chrono::milliseconds grace);

}  // namespace guestkit::plugins::iface
