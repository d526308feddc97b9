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
};

struct RunSummary {
  std::string trigger;
  std::vector<RunRecord> records;
  std::chrono::nanoseconds duration{};
  bool aborted = false;  // a critical plugin failed: the rest did not run
  bool partial = false;  // --only/--skip left plugins out
  std::int64_t started = 0;  // wall clock, seconds since the epoch

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
};

// The record of a run, as JSON text (the format guestkit-boot report reads):
// {"trigger", "started", "finished", "duration_ms", "exit_code", "aborted", "partial",
//  "plugins": [{"name", "source", "status", "critical", "message", "duration_ms"}]}
std::string record_json(const RunSummary& summary);

// Plans and runs. A failure to plan or to take the lock is a failed run (exit 2) with
// one record named after the trigger explaining why.
RunSummary run_plugins(core::Context& ctx, std::string_view trigger, const RunOptions& options = {});

}  // namespace guestkit::plugins
