// Trigger and plugin-name helpers: kept apart from the registry tables so that code
// which only runs plugins does not link every built-in (and its libraries).

#include <algorithm>
#include <cctype>

#include "plugins/plugin.hpp"

namespace guestkit::plugins {

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

std::string_view current_plugin_name(std::string_view trigger, std::string_view name) {
  for (const auto& r : kRenamedPlugins)
    if (r.trigger == trigger && r.old_name == name) return r.name;
  return name;
}

std::string_view old_plugin_name(std::string_view trigger, std::string_view name) {
  for (const auto& r : kRenamedPlugins)
    if (r.trigger == trigger && r.name == name) return r.old_name;
  return {};
}


}  // namespace guestkit::plugins
