#include <algorithm>
#include <cctype>

#include "plugins/builtin/builtin.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {

namespace {

// Every built-in plugin, one row each. Numbers are stable: users order their own
// plugins relative to them. Keep the rows sorted by name.
constexpr BuiltinPlugin kBuiltins[] = {
    {"10-online-cpu", "cpu-add", "cpu", false, "brings a hot-added vCPU online",
     &builtin::online_cpu},
    {"10-online-memory", "memory-add", "memory", false,
     "brings a hot-added memory block online (memory.online_policy)", &builtin::online_memory},
    {"13-set-motd", "config", "motd", false,
     "message of the day: /etc/motd, or a script in /etc/update-motd.d/", &builtin::set_motd},
    {"20-coldplug-cpus", "mount", "cpu", false, "brings every offline hotpluggable vCPU online",
     &builtin::coldplug_cpus},
    {"21-coldplug-memory", "mount", "memory", false,
     "brings every offline memory block online (memory.online_policy)", &builtin::coldplug_memory},
};

}  // namespace

std::span<const BuiltinPlugin> builtin_plugins() { return kBuiltins; }

bool BuiltinPlugin::serves(std::string_view trigger) const {
  std::string_view rest = triggers;
  while (!rest.empty()) {
    auto space = rest.find(' ');
    if (rest.substr(0, space) == trigger) return true;
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  return false;
}

bool is_trigger(std::string_view name) {
  return std::find(std::begin(kTriggers), std::end(kTriggers), name) != std::end(kTriggers);
}

bool is_boot_stage(std::string_view name) {
  return std::find(std::begin(kBootStages), std::end(kBootStages), name) != std::end(kBootStages);
}

bool valid_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || !std::isalnum(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

}  // namespace guestkit::plugins
