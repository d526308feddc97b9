#pragma once
// Private to the config loader: the feature switches by name, in one table, so that
// Config::feature_enabled and the legacy CONFIG_* mapping cannot disagree about which
// name means which struct member.

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "core/config.hpp"

namespace guestkit::core::detail {

// Works for `Config&` (bool*) and `const Config&` (const bool*).
template <class C>
constexpr auto feature_switches(C& config) {
  using Switch = std::pair<std::string_view, decltype(&config.motd.enabled)>;
  return std::array<Switch, 20>{{
      {"motd", &config.motd.enabled},
      {"disk", &config.disk.enabled},
      {"iface", &config.iface.enabled},
      {"timezone", &config.timezone.enabled},
      {"sysctl", &config.sysctl.enabled},
      {"sshd", &config.sshd.enabled},
      {"console", &config.console.enabled},
      {"cron", &config.cron.enabled},
      {"hostname", &config.hostname.enabled},
      {"nameserver", &config.nameserver.enabled},
      {"network", &config.network.enabled},
      {"cpu", &config.cpu.enabled},
      {"memory", &config.memory.enabled},
      {"swap", &config.swap.enabled},
      {"grow_root", &config.grow_root.enabled},
      {"identity", &config.identity.enabled},
      {"system_files", &config.system_files.enabled},
      {"ext_checks", &config.ext_checks.enabled},
      {"postboot", &config.postboot.enabled},
      {"seed", &config.seed.enabled},
  }};
}

// Message text for a value or key from the user: one line, bounded, no control bytes,
// so that one problem stays one line of the joined error text.
std::string printable(std::string_view text, std::size_t max = 60);

}  // namespace guestkit::core::detail
