#pragma once
// The runner: for a trigger, merge built-in plugins with external executables from
// <libdir>/plugins.d/<trigger>/ and /etc/guestkit/plugins.d/<trigger>/ into one list
// ordered bytewise by name, decide what is enabled, run them in order, time each,
// keep going past failures unless a critical one fails.
//
// Equal names: /etc wins over the vendor dir, which wins over a built-in, so an admin
// can replace any plugin. A symlink to /dev/null masks the name, built-in included.
//
// The config stage also runs the customer plugins gandi-hosting-vm2's gandi-config ran
// from /etc/gandi/plugins.d (source "legacy", between vendor and admin), at their
// NN- place among guestkit's, before 99-hook-vm-config as before. The old package's
// own plugins there (01-config_console ... 16-vm-fix-ext3) are listed disabled: the
// built-ins do their job.

#include <chrono>
#include <iosfwd>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {

enum class Source { builtin, vendor, admin, legacy };
// "built-in", "vendor", "admin", "legacy"
std::string_view source_name(Source source);

struct PlanEntry {
  std::string name;
  Source source = Source::builtin;
  const BuiltinPlugin* builtin = nullptr;  // for Source::builtin
  std::string path;                        // guest path, for external plugins
  std::string summary;
  bool critical = false;
  bool enabled = true;
  std::string why_disabled;             // "switched off: motd: false", "masked", ...
  std::vector<std::string> overrides;   // what it shadows: "built-in", "/usr/lib/.../05-x"
};

// The ordered plan for a trigger. Errors only when a plugin directory is unreadable.
// `builtins` is the registry's table; tests pass their own.
core::Result<std::vector<PlanEntry>> plan_plugins(
    const core::Context& ctx, std::string_view trigger,
    std::span<const BuiltinPlugin> builtins = builtin_plugins());

// `--list` output: one line per plugin, in run order.
void print_plan(std::ostream& os, std::string_view trigger, const std::vector<PlanEntry>& plan);

// `ran`: an external plugin that succeeded; it cannot tell us whether it changed anything.
enum class RunStatus { unchanged, changed, ran, skipped, disabled, failed };
std::string_view status_name(RunStatus status);

struct RunRecord {
  std::string name;
  Source source = Source::builtin;
  RunStatus status = RunStatus::unchanged;
  bool critical = false;
  std::string message;  // why it failed / was skipped
  std::chrono::nanoseconds duration{};
  // CPU time (user + system) spent meanwhile by this process, all its threads, and the
  // programs it ran and waited for (not a daemon they left running).
  std::chrono::nanoseconds cpu{};
};

struct RunSummary {
  std::string trigger;
  std::vector<RunRecord> records;
  std::chrono::nanoseconds duration{};
  std::chrono::nanoseconds cpu{};  // as RunRecord::cpu, over the whole run
  bool aborted = false;  // a critical plugin failed: the rest did not run
  bool partial = false;  // --only/--skip left plugins out
  std::int64_t started = 0;  // wall clock, seconds since the epoch
  std::string object;        // RunOptions::object ("" for a stage or an agent op)

  std::size_t count(RunStatus status) const;
  // kExitOk, kExitPartial (a non-critical plugin failed) or kExitFailed.
  int exit_code() const;
};

struct RunOptions {
  std::vector<std::string> args{};           // passed to every plugin (external: argv[1..])
  std::map<std::string, std::string> env{};  // extra environment for external plugins
  std::string lock{};                        // named lock held for the whole run ("" = none)
  std::chrono::milliseconds lock_timeout{std::chrono::seconds(60)};
  bool record = true;                        // write the run record (below)
  // Every built-in by default. A udev helper names its domain's table instead
  // (designated initializer), so the default is not even linked into it.
  std::span<const BuiltinPlugin> builtins = builtin_plugins();
  // (New fields go below: tests initialise the ones above by position.)
  // Guest path of the record; "" = /run/guestkit/runs/<trigger>.json. Boot stages
  // use /run/guestkit/boot-<stage>.json (guestkit-boot report reads those).
  std::string record_path{};
  // Debugging (guestkit-boot --only/--skip): when `only` is not empty, just these
  // plugins run; `skip` ones never do. The others are recorded as disabled.
  std::vector<std::string> only{};
  std::vector<std::string> skip{};
  // Longest an external plugin may run (default: plugins.timeout).
  std::optional<std::chrono::milliseconds> timeout{};
  const provision::Order* order = nullptr;   // handed to built-in provision plugins
  // The object the run is for ("vdb", "ens5", "cpu3"; "" for a stage or an agent op):
  // its record goes to runs/<trigger>/<object>.json (record_path below), so runs for
  // two objects, which may run at once under their own locks, keep a record each.
  std::string object{};
};

// Guest path of a run's record: /run/guestkit/runs/<trigger>.json for a run with no
// object, /run/guestkit/runs/<trigger>/<record_key(object)>.json otherwise.
std::string record_path(std::string_view trigger, std::string_view object);
// `object` as one safe file name: bytes other than [A-Za-z0-9_+,:=@-] and a '.' not
// in front are written %XX, so "." and "..", "a/b", a leading dot (the atomic writes'
// temp files), control bytes and '%' itself never reach the name; distinct objects
// keep distinct names.
std::string record_key(std::string_view object);
// The guest paths of every record of `trigger`: each object's under runs/<trigger>/,
// then the single runs/<trigger>.json of a run with no object, which is also where
// 0.1.0 recorded every device's run, each overwriting the last (still read: /run is
// volatile, so such a file only lives until the first reboot after an upgrade).
// Missing ones are not listed; an unreadable directory lists nothing from it.
std::vector<std::string> record_paths(const core::Root& root, std::string_view trigger);

// What became of one event run_events was asked to run. `summary` is empty when the
// event did not run: an earlier event for the same object failed, and this one was
// planned on the assumption that it would not (a coldplug's disk-remove of a vanished
// disk's record, then disk-add of the new device with its name).
struct EventResult {
  EventRun event;
  std::optional<RunSummary> summary;
};
// Runs the events in order, each as a hotplug event for its object would run: the
// plugins of its trigger from its table (`builtins` when it names none), args
// {object}, under its lock, recorded per object. Used by the runner after a plugin
// that asked for events, and by the udev helpers' --coldplug.
std::vector<EventResult> run_events(core::Context& ctx, std::span<const EventRun> events,
                                    std::span<const BuiltinPlugin> builtins);
// The worst exit code of the events that ran (kExitOk for none).
int events_exit_code(const std::vector<EventResult>& results);
// "iface-add failed for ens5, ens6; disk-remove failed for vdb" ("" when none did).
std::string events_failed(const std::vector<EventResult>& results);

// The record of a run, as JSON text (the format guestkit-boot report reads):
// {"trigger", "object" (only for a run with one), "started", "finished",
//  "duration_ms", "exit_code", "aborted", "partial",
//  "plugins": [{"name", "source", "status", "critical", "message", "duration_ms"}]}
std::string record_json(const RunSummary& summary);

// Plans and runs. A failure to plan or to take the lock is a failed run (exit 2) with
// one record named after the trigger explaining why. A built-in plugin that returns
// events (PluginContext::events) has them run right after it, before the next plugin:
// its record's duration includes them, it is `failed` ("disk-add failed for vdb")
// when one of them failed, `changed` when one changed something.
RunSummary run_plugins(core::Context& ctx, std::string_view trigger, const RunOptions& options = {});

}  // namespace guestkit::plugins
