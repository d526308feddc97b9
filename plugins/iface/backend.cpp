#include "plugins/iface/backend.hpp"

#include <sys/stat.h>

#include <sstream>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins::iface {
namespace {

bool exists(const core::Root& root, const char* guest, bool dir) {
  auto st = root.stat(guest);
  return st && *st && (!dir || S_ISDIR((*st)->st_mode));
}

bool declares(std::string_view text, std::string_view name) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword, word;
    if (!(words >> keyword) || keyword.front() == '#') continue;
    if (keyword == "iface") {
      if (words >> word && word == name) return true;
    } else if (keyword == "auto" || keyword.rfind("allow-", 0) == 0) {
      while (words >> word)
        if (word == name) return true;
    }
  }
  return false;
}

}  // namespace

std::string_view backend_name(Backend backend) {
  switch (backend) {
    case Backend::networkd:
      return "networkd";
    case Backend::networkmanager:
      return "networkmanager";
    case Backend::ifupdown:
      return "ifupdown";
    case Backend::none:
      return "none";
  }
  return "?";
}

bool systemd_running(const core::Root& root) {
  return exists(root, core::paths::kSystemdRunDir, true);
}

core::Result<Detected> detect_backend(const core::Root& root, const core::IfaceConfig& config) {
  const std::pair<std::string_view, Backend> named[] = {{"networkd", Backend::networkd},
                                                        {"networkmanager", Backend::networkmanager},
                                                        {"ifupdown", Backend::ifupdown},
                                                        {"none", Backend::none}};
  for (const auto& [word, backend] : named)
    if (config.backend == word) return Detected{backend, "iface.backend: " + config.backend};
  if (config.backend != "auto")
    return core::make_error(core::Errc::config, "iface.backend '" + config.backend + "'");

  // networkd runs without D-Bus, but `networkctl reload` and `reconfigure` talk to it
  // over the system bus only (seen in a guest without dbus: "Failed to connect system
  // bus"): without the bus, networkd keeps only what its own files name, and the NIC
  // is left to the next backend (the caller still leaves one networkd configures).
  std::string note;
  if (exists(root, core::paths::kNetworkdState, false)) {
    if (exists(root, core::paths::kSystemBusSocket, false))
      return Detected{Backend::networkd, std::string(core::paths::kNetworkdState) + " exists"};
    note = "; systemd-networkd runs but cannot be reached: no " +
           std::string(core::paths::kSystemBusSocket);
  }
  if (exists(root, core::paths::kNetworkManagerRunDir, true))
    return Detected{Backend::networkmanager,
                    std::string(core::paths::kNetworkManagerRunDir) + " exists" + note};
  if (exists(root, core::paths::kIfupdownInterfaces, false) &&
      core::find_program("ifup", root.prefix().string()))
    return Detected{Backend::ifupdown,
                    "ifup and " + std::string(core::paths::kIfupdownInterfaces) + note};
  return Detected{Backend::none, "no network manager found" + note};
}

core::Result<bool> ifupdown_declares(const core::Root& root, std::string_view name) {
  auto main = core::read_file_if_exists(root, core::paths::kIfupdownInterfaces, 1 << 20);
  if (!main) return std::move(main).error();
  if (*main && declares(**main, name)) return true;
  // Debian's default file sources interfaces.d/*; files are named like run-parts'.
  auto names = root.list_dir(core::paths::kIfupdownInterfacesDir);
  if (!names) return std::move(names).error();
  for (const auto& file : *names) {
    if (!valid_plugin_name(file)) continue;
    auto text = core::read_file_if_exists(
        root, std::string(core::paths::kIfupdownInterfacesDir) + "/" + file, 1 << 20);
    if (text && *text && declares(**text, name)) return true;
  }
  return false;
}

core::Result<std::string> networkd_network_file(const core::Root& root, int ifindex) {
  auto text = core::read_file_if_exists(
      root, std::string(core::paths::kNetworkdLinksDir) + "/" + std::to_string(ifindex), 1 << 16);
  if (!text) return std::move(text).error();
  if (!*text) return std::string();
  std::string file, admin;
  for (const auto& line : core::split_lines(**text)) {
    if (line.rfind("NETWORK_FILE=", 0) == 0) file = line.substr(13);
    if (line.rfind("ADMIN_STATE=", 0) == 0) admin = line.substr(12);
  }
  if (admin == "unmanaged" || admin == "linger") return std::string();
  return file;
}

std::string networkd_file_path(std::string_view name) {
  return std::string(core::paths::kNetworkdRunDir) + "/50-guestkit-" + std::string(name) +
         ".network";
}

std::string networkd_file(std::string_view name, std::uint32_t metric, bool use_gateway) {
  std::string text =
      "# Written by guestkit-iface when " + std::string(name) +
      " was attached; removed when it goes away.\n"
      "# A .network file of your own that matches it and sorts before this name wins.\n"
      "[Match]\n"
      "Name=" +
      std::string(name) +
      "\n"
      "\n"
      "[Network]\n"
      "DHCP=yes\n"
      "\n"
      "[DHCPv4]\n"
      "RouteMetric=" +
      std::to_string(metric) + "\n";
  if (!use_gateway)
    text +=
        "# guestkit's default-route policy keeps the default route on another interface.\n"
        "UseGateway=no\n";
  return text;
}

std::string nm_connection_name(std::string_view name) {
  return "guestkit-" + std::string(name);
}

}  // namespace guestkit::plugins::iface
