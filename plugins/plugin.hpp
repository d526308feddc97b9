#pragma once
// A plugin is a named unit "NN-verb-noun" serving one or more triggers (a boot stage,
// a hotplug event, an agent order). Built-in plugins are rows of the table in
// registry.cpp; external executables in plugins.d/<trigger>/ join the same list.

#include <chrono>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.hpp"
#include "core/result.hpp"

namespace guestkit::plugins {

namespace provision {
struct Order;  // plugins/provision/order.hpp
}

// Every trigger there is. Boot stages first, in boot order.
inline constexpr std::string_view kBootStages[] = {"bootstrap", "mount", "config", "postboot"};
inline constexpr std::string_view kTriggers[] = {
    "bootstrap",   "mount",        "config",  "postboot",   // guestkit-boot STAGE
    "disk-add",    "disk-change",  "disk-remove",            // guestkit-disk
    "iface-add",   "iface-remove",                           // guestkit-iface
    "cpu-add",     "memory-add",                             // guestkit-cpu, guestkit-memory
    "provision",                                             // guestkit-agent
    "set-hostname", "set-password", "ssh-keys",             // guestkit-agent single ops
};
bool is_trigger(std::string_view name);
bool is_boot_stage(std::string_view name);

// What a successful run did.
enum class Outcome {
  unchanged,  // checked, nothing to do
  changed,    // made a change (or would have, in dry-run)
  skipped,    // not applicable here (no such device, feature absent on this OS)
};

// One event for one object, run by the runner on a plugin's behalf: a boot stage's
// coldplug plugin finds the devices present and asks for a disk-add or iface-add for
// each, as udev would have; the runner (runner.hpp, run_events) runs them right after
// that plugin, so no plugin body ever calls the runner itself.
struct BuiltinPlugin;
struct EventRun {
  std::string trigger;  // "disk-add"
  std::string object;   // "vdb": the plugins' argument and the run record's key
  std::string lock;     // "disk-vdb": the lock a hotplug event for the object takes
  // The built-ins it runs: its domain's table (&disk_plugins), as its udev helper
  // would; null: the table of the run that asked for it.
  std::span<const BuiltinPlugin> (*table)() = nullptr;
};

struct PluginContext {
  core::Context& ctx;
  std::string_view trigger;
  std::vector<std::string> args;              // trigger arguments (device, interface...)
  std::map<std::string, std::string> env;     // extra environment for external plugins
  const provision::Order* order = nullptr;    // trigger "provision": the validated order
  // Out: the events the runner runs after this plugin returns successfully, in order;
  // their time and failures count as this plugin's (runner.hpp).
  std::vector<EventRun> events{};
};

using PluginFn = core::Result<Outcome> (*)(PluginContext&);

struct BuiltinPlugin {
  std::string_view name;      // "13-set-motd": the number sets the order
  std::string_view triggers;  // space-separated: "config"
  std::string_view feature;   // config switch that turns it off ("motd"), or ""
  bool critical;              // its failure fails the whole run (exit 2)
  std::string_view summary;   // one line for --list
  PluginFn run;

  bool serves(std::string_view trigger) const;
};

// The explicit tables (registry*.cpp). No static-initialiser self registration. Each
// udev helper passes its domain's table, so it links only those plugins; the boot
// stages use builtin_plugins(), all of them, sorted by name.
std::span<const BuiltinPlugin> builtin_plugins();
std::span<const BuiltinPlugin> disk_plugins();
std::span<const BuiltinPlugin> iface_plugins();
std::span<const BuiltinPlugin> cpu_memory_plugins();
std::span<const BuiltinPlugin> provision_plugins();

// Built-in plugins renamed since a release, per trigger. An admin's switch
// (plugins.enabled: {OLD: false}) and a plugins.d/TRIGGER/OLD file (a mask linked to
// /dev/null, or an executable that overrides the built-in) keep reaching the plugin
// under its new name. README "Renamed plugins".
struct RenamedPlugin {
  std::string_view trigger;
  std::string_view old_name;
  std::string_view name;
};
inline constexpr RenamedPlugin kRenamedPlugins[] = {
    {"iface-remove", "10-hook-iface", "10-hook-detach-iface"},
    {"iface-add", "90-hook-iface", "90-hook-attach-iface"},
};
// The current name of `name` under `trigger` (itself when it was never renamed).
std::string_view current_plugin_name(std::string_view trigger, std::string_view name);
// The old name of a renamed plugin under `trigger`, or "" when it has none.
std::string_view old_plugin_name(std::string_view trigger, std::string_view name);

// Plugin names: one rule, core/config.hpp's (like run-parts).
using core::valid_plugin_name;

}  // namespace guestkit::plugins
