#pragma once
// Who does DHCP on this image, and the files that hand an interface to it.
//
// Detected in this order, unless iface.backend names one:
//   networkd        systemd-networkd is running (/run/systemd/netif/state exists) and
//                   networkctl can reach it (the D-Bus system socket exists)
//   networkmanager  NetworkManager is running (/run/NetworkManager/ exists)
//   ifupdown        /etc/network/interfaces and ifup are installed
//   none            nothing: guestkit runs a DHCP client itself
// All through Root, so an image tree or a test tree answers like a live system.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::iface {

enum class Backend { networkd, networkmanager, ifupdown, none };
std::string_view backend_name(Backend backend);

struct Detected {
  Backend backend = Backend::none;
  std::string why;  // "iface.backend", "/run/systemd/netif/state exists"...
};
core::Result<Detected> detect_backend(const core::Root& root, const core::IfaceConfig& config);

// systemd is PID 1 (/run/systemd/system is a directory): DHCP clients then run in a
// unit, since udev kills long-running children of its RUN programs.
bool systemd_running(const core::Root& root);

// Whether ifupdown is told about the interface: an "iface NAME", "auto NAME" or
// "allow-hotplug NAME" stanza in /etc/network/interfaces or a file of
// /etc/network/interfaces.d/. Such an interface is ifupdown's, never ours.
core::Result<bool> ifupdown_declares(const core::Root& root, std::string_view name);

// networkd's view of a link (/run/systemd/netif/links/<ifindex>): the .network file
// that configures it, if any ("" when none or unmanaged).
core::Result<std::string> networkd_network_file(const core::Root& root, int ifindex);

// Our runtime .network file for an interface and its content. DHCP=yes hands both
// DHCPv4 and (when router advertisements ask for it) DHCPv6 to networkd; IPv6 SLAAC
// stays networkd's default. use_gateway=false keeps the lease but not its default
// route (the default-route policy chose another interface).
std::string networkd_file_path(std::string_view name);
std::string networkd_file(std::string_view name, std::uint32_t metric, bool use_gateway = true);

// Our NetworkManager connection for an interface.
std::string nm_connection_name(std::string_view name);

}  // namespace guestkit::plugins::iface
