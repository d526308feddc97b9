#include "hotplug/driver.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <variant>

#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::hotplug {
namespace {

int usage(const core::ToolSpec& tool, const std::string& message) {
  std::cerr << tool.name << ": " << message << "\nTry '" << tool.name
            << " --help' for more information.\n";
  return core::kExitUsage;
}

// --detach: true in the child, which does the work; the parent returns (exit 0). A
// failed fork leaves the work to this process, as without --detach.
bool detach_to_child(const std::string& name) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    core::log_warning(name, ": cannot detach (", std::strerror(errno), "), working here");
    return true;
  }
  if (pid > 0) {
    core::log_debug(name, ": the work goes on in pid ", pid);
    return false;
  }
  ::setsid();  // out of udev's process group: nothing it signals reaches the work
  const int null = ::open(core::paths::kDevNull, O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    // udev reads the program's stdout and stderr: they must not stay open here.
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) ::close(null);
  }
  return true;
}

}  // namespace

int handle_event(core::Context& ctx, const HotplugSpec& spec, const Event& event) {
  auto trigger = spec.triggers.find(event.action);
  if (trigger == spec.triggers.end()) {
    core::log_debug(event.name, ": action '", event.action, "' needs nothing, ignoring");
    return core::kExitOk;
  }
  // Designated: the default (every built-in) would link all domains into this helper.
  plugins::RunOptions options{.builtins = spec.builtins};
  options.args = {event.name};
  options.env = event.env;
  options.lock = spec.lock_prefix + "-" + event.name;
  options.object = event.name;
  auto summary = plugins::run_plugins(ctx, trigger->second, options);
  return summary.exit_code();
}

int handle_coldplug_events(core::Context& ctx, const HotplugSpec& spec) {
  auto events = spec.coldplug_events(ctx);
  if (!events) {
    core::report_fatal(spec.tool, "coldplug: " + events.error().message());
    return core::kExitFailed;
  }
  return plugins::events_exit_code(plugins::run_events(ctx, *events, spec.builtins));
}

int hotplug_main(const HotplugSpec& spec_in, int argc, char** argv, char** envp) {
  std::signal(SIGPIPE, SIG_IGN);
  HotplugSpec spec = spec_in;
  if (spec.coldplug || spec.coldplug_events)
    spec.tool.options.push_back({"coldplug", 0, false, "", "handle everything present now (boot)"});
  if (spec.status)
    spec.tool.options.push_back({"status", 0, false, "", "show what guestkit manages and exit"});
  if (spec.detachable)
    spec.tool.options.push_back(
        {"detach", 0, false, "", "return at once, the event's work going on in the background"});
  spec.tool.max_args = 2;

  auto parsed = core::parse_cli(spec.tool, argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto& args = std::get<core::CliArgs>(parsed);

  const bool coldplug = args.has("coldplug"), status = args.has("status");
  if (coldplug + status + !args.args.empty() > 1)
    return usage(spec.tool, "give one of ACTION NAME, --coldplug or --status");
  if (args.has("detach") && (coldplug || status))
    return usage(spec.tool, "--detach is for an event, not --coldplug or --status");
  Event event;
  if (args.args.size() == 1) return usage(spec.tool, "missing NAME after " + args.args[0]);
  if (args.args.size() == 2) {
    event.action = args.args[0];
    if (!spec.triggers.count(event.action)) {
      std::string known;
      for (const auto& [action, trigger] : spec.triggers) known += (known.empty() ? "" : ", ") + action;
      return usage(spec.tool, "unknown action '" + event.action + "' (" + known + ")");
    }
    auto name = spec.check_name ? spec.check_name(args.args[1]) : check_kernel_name(args.args[1]);
    if (!name) return usage(spec.tool, name.error().message());
    event.name = *name;
  }

  auto ctx = core::make_context(spec.tool, args);
  if (!ctx) return core::kExitFailed;
  if (coldplug && spec.coldplug_events) return handle_coldplug_events(**ctx, spec);
  if (coldplug) return spec.coldplug(**ctx);
  if (status) return spec.status(**ctx);

  if (event.action.empty()) {  // run by udev: the event is in the environment
    auto ev = core::parse_udev_event(envp);
    if (!ev) {
      core::report_fatal(spec.tool, ev.error().message() +
                                        " (no ACTION NAME given and no valid udev event in the environment)");
      return core::kExitUsage;
    }
    if (ev->subsystem != spec.subsystem) {
      core::log_debug("subsystem '", ev->subsystem, "' is not ", spec.subsystem, ", ignoring");
      return core::kExitOk;
    }
    event.action = ev->action;
    event.name = spec.name_of ? spec.name_of(*ev) : ev->kernel_name();
    event.env = ev->env;
    if (event.name.empty()) return core::kExitOk;
    if (auto checked = spec.check_name ? spec.check_name(event.name) : check_kernel_name(event.name); !checked) {
      core::report_fatal(spec.tool, checked.error().message());
      return core::kExitFailed;
    }
  }
  if (args.has("detach")) {
    std::cout.flush();
    std::cerr.flush();
    if (!detach_to_child(event.name)) return core::kExitOk;
  }
  return handle_event(**ctx, spec, event);
}

}  // namespace guestkit::hotplug
