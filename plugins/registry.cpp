// The registry: every built-in plugin, one row each, in explicit tables (no
// static-initialiser self registration). Rows live with their domain
// (registry_disk.cpp, registry_iface.cpp, registry_cpu_memory.cpp,
// registry_provision.cpp) so each udev helper
// links only its own; the boot stages run them all, from builtin_plugins() below.

#include <algorithm>
#include <vector>

#include "plugins/builtin/builtin.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {
namespace {

// Plugins of the boot stages that belong to no hotplug domain.
constexpr BuiltinPlugin kBootTable[] = {
    {"13-set-motd", "config", "motd", false,
     "message of the day: /etc/motd, or a script in /etc/update-motd.d/", &builtin::set_motd},
};

}  // namespace

std::span<const BuiltinPlugin> builtin_plugins() {
  static const std::vector<BuiltinPlugin> all = [] {
    std::vector<BuiltinPlugin> rows;
    for (auto table : {std::span<const BuiltinPlugin>(kBootTable), disk_plugins(), iface_plugins(),
                       cpu_memory_plugins(), provision_plugins()})
      rows.insert(rows.end(), table.begin(), table.end());
    std::sort(rows.begin(), rows.end(),
              [](const BuiltinPlugin& a, const BuiltinPlugin& b) { return a.name < b.name; });
    return rows;
  }();
  return all;
}

}  // namespace guestkit::plugins
