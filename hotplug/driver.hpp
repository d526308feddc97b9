#pragma once
// The one shape of every udev helper (guestkit-disk, -iface, -cpu, -memory):
//
//   guestkit-X [OPTION]... ACTION NAME    explicit (systemd units, admins, tests)
//   guestkit-X [OPTION]...                from the udev environment (RUN+=)
//   guestkit-X --coldplug                 everything present now (boot "mount" stage)
//   guestkit-X --status                   what guestkit manages
//
// An event becomes a trigger ("disk-add") and a name ("vdb1"); the plugins of that
// trigger run under a lock named after the object, so two events for one object never
// interleave while events for different objects run in parallel.

#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/cli.hpp"
#include "core/udev_event.hpp"
#include "plugins/runner.hpp"

namespace guestkit::hotplug {

struct Event {
  std::string action;  // add, change, remove...
  std::string name;    // the object: kernel name, interface name
  std::map<std::string, std::string> env;  // the udev environment (empty when explicit)
};

struct HotplugSpec {
  core::ToolSpec tool;      // name, synopsis, summary, description (options are added)
  std::string subsystem;    // the udev SUBSYSTEM this helper serves
  std::string lock_prefix;  // lock "<prefix>-<name>": "disk" -> disk-vdb1
  // The built-in plugins this helper runs: its domain's table (disk_plugins()...), so
  // it links only those (registry_*.cpp).
  std::span<const plugins::BuiltinPlugin> builtins;
  // udev ACTION -> trigger; actions not listed are ignored (exit 0).
  std::map<std::string, std::string> triggers;
  // The object's name from a udev event ("" = not ours, ignored). Default: kernel name.
  std::function<std::string(const core::UdevEvent&)> name_of;
  // Checks an explicit NAME ("vdb1", "/dev/vdb1", "cpu3"); returns the canonical name
  // or an Error (bad_input) for nonsense such as "../x". Default: a kernel name.
  std::function<core::Result<std::string>(const std::string&)> check_name;
  // --coldplug and --status; unset means the option is not offered.
  std::function<int(core::Context&)> coldplug;
  std::function<int(core::Context&)> status;
  // --coldplug as events (disk, iface): the domain finds what is present and says what
  // each object needs; the driver runs them (plugins::run_events), one after the
  // other, each as its own event. Takes precedence over `coldplug`.
  std::function<core::Result<std::vector<plugins::EventRun>>(core::Context&)> coldplug_events;
  // --detach: the event's work goes on in a process of its own (own session, stdio on
  // /dev/null) and the helper returns at once. For the udev rule without systemd,
  // where udev, and `udevadm settle` in runlevel S, would wait for a DHCP lease.
  bool detachable = false;
};

// Runs the plugins of one event. Exit code as documented in core/cli.hpp.
int handle_event(core::Context& ctx, const HotplugSpec& spec, const Event& event);
// --coldplug through spec.coldplug_events. Exit code as documented in core/cli.hpp.
int handle_coldplug_events(core::Context& ctx, const HotplugSpec& spec);

// A whole helper's main: parse, build the context, dispatch. `envp` is the process
// environment, read only when no ACTION NAME is given.
int hotplug_main(const HotplugSpec& spec, int argc, char** argv, char** envp);

using core::check_kernel_name;

}  // namespace guestkit::hotplug
