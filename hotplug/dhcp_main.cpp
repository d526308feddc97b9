// guestkit-dhcp IFACE: becomes the DHCP client guestkit chose for IFACE, in the
// foreground, for guestkit-dhcp@.service (under systemd a client must live in a
// unit: udev kills what its RUN programs leave behind).

#include <iostream>
#include <variant>

#include "core/cli.hpp"
#include "core/exec.hpp"
#include "plugins/iface/dhcp_client.hpp"
#include "plugins/iface/iface.hpp"

namespace gk = guestkit;
namespace iface = guestkit::plugins::iface;

int main(int argc, char** argv) {
  const gk::core::ToolSpec spec{
      "guestkit-dhcp",
      "[OPTION]... IFACE",
      "Run the DHCP client for IFACE in the foreground (guestkit-dhcp@.service).",
      "The client is iface.dhcp_client (auto: dhclient, dhcpcd, udhcpc, the first\n"
      "installed), with its pid and lease files in /run/guestkit/iface/ and the route\n"
      "metric guestkit-iface chose. Started by guestkit-iface, not by hand.",
      {},
      1,
      1};
  auto parsed = gk::core::parse_cli(spec, argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto& args = std::get<gk::core::CliArgs>(parsed);
  auto name = iface::check_iface_name(args.args[0]);
  if (!name) {
    std::cerr << spec.name << ": " << name.error().message() << "\n";
    return gk::core::kExitUsage;
  }
  auto ctx = gk::core::make_context(spec, args);
  if (!ctx) return gk::core::kExitFailed;
  const auto& root = (*ctx)->root;
  const auto& config = (*ctx)->config.iface;
  // Each failure says what it is: a state file that cannot be read (permissions, not a
  // file, too big) is not a missing client.
  auto state = iface::read_state(root, *name);
  if (!state) {
    gk::core::report_fatal(spec,
                           "cannot read the state of " + *name + ": " + state.error().message());
    return gk::core::kExitFailed;
  }
  auto pid = root.host_path(iface::pid_path(*name));
  auto lease = root.host_path(iface::lease_path(*name));
  if (!pid || !lease) {
    gk::core::report_fatal(spec, (pid ? lease.error() : pid.error()).message());
    return gk::core::kExitFailed;
  }
  auto client = iface::choose_client(root, config);
  if (!client) {
    gk::core::report_fatal(spec,
                           config.dhcp_client == "auto"
                               ? "no DHCP client installed (dhclient, dhcpcd or udhcpc)"
                               : "iface.dhcp_client " + config.dhcp_client + " is not installed");
    return gk::core::kExitFailed;
  }
  const std::uint32_t metric = *state ? (**state).metric : config.route_metric;
  auto cmd = iface::client_command(*client, *name, pid->string(), lease->string(), metric, true,
                                   config.dhcp_timeout);
  if ((*ctx)->dry_run || !root.is_host()) {
    std::string line;
    for (const auto& a : cmd.argv) line += " " + a;
    (*ctx)->would("exec" + line);
    return gk::core::kExitOk;
  }
  gk::core::ExecOptions eo;
  eo.env = cmd.env;
  gk::core::report_fatal(spec, gk::core::exec_replace(cmd.argv, eo).message());
  return gk::core::kExitFailed;
}
