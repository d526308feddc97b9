#include "plugins/runner.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <sstream>

#include "core/cli.hpp"
#include "core/files.hpp"
#include "core/lock.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/external.hpp"

namespace guestkit::plugins {
namespace {

using Clock = std::chrono::steady_clock;

std::string ms(std::chrono::nanoseconds d) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << std::chrono::duration<double, std::milli>(d).count()
     << " ms";
  return os.str();
}

// CPU time so far of this process (every thread) and of the children it waited for:
// what a plugin cost, beside its wall time, is the difference of two readings.
std::chrono::nanoseconds cpu_now() {
  auto total = std::chrono::nanoseconds(0);
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    if (::getrusage(who, &u) != 0) continue;
    for (const timeval& tv : {u.ru_utime, u.ru_stime})
      total += std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  }
  return total;
}

std::string describe(const PlanEntry& e) {
  return e.source == Source::builtin ? std::string("built-in") : e.path;
}

void write_record(const core::Context& ctx, const RunSummary& summary, const RunOptions& options) {
  core::WriteOptions wo;
  wo.create_parents = true;
  wo.follow = core::Follow::never;
  wo.durable = false;  // /run is volatile: fsync would only slow every boot and event
  const std::string path = options.record_path.empty()
                               ? record_path(summary.trigger, options.object)
                               : options.record_path;
  if (auto w = core::write_file_atomic(ctx.root, path, record_json(summary), wo); !w)
    core::log_warning("cannot record the run: ", w.error().message(), ", ignoring");
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What gandi-hosting-vm2 itself put (or, in older releases, had put) in
// /etc/gandi/plugins.d. Its removal leaves them there (they are conffiles); running them
// would redo the built-ins' work with the old scripts (and mount a tmpfs on /var/gandi).
// gandi-config also skipped names with "pre-first".
bool is_old_package_plugin(std::string_view name) {
  static constexpr std::string_view kOld[] = {
      "00-config_swap",          "01-config_console",
      "02-config_system_file",   "03-vm-fix-cron",
      "04-config_local_network", "04-config_network",
      "05-config_hostname",      "05-vm-fix-ext3",
      "06-config_nameserver",    "06-vm-fix-cron",
      "07-config_timezone",      "07-timezone",
      "07-vm-fix-gandikey",      "08-config_user_group",
      "09-config_timezone",      "10-config_sysctl",
      "11-config_ssh",           "12-vm-fix-umask",
      "13-config_motd",          "15-misc",
      "16-vm-fix-ext3",
  };
  return name.find("pre-first") != std::string_view::npos ||
         std::find(std::begin(kOld), std::end(kOld), name) != std::end(kOld);
}

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

RunRecord run_plugin_program(core::Context& ctx, std::string_view trigger, const PlanEntry& e,
                             const RunOptions& options) {
  RunRecord r{e.name, e.source, RunStatus::ran, e.critical, {}, {}};
  auto env = options.env;
  env["GUESTKIT_TRIGGER"] = std::string(trigger);
  env["GUESTKIT_PLUGIN"] = e.name;
  auto res = run_external(ctx, e.name, e.path, options.args, env, options.timeout);
  if (!res.ok) {
    r.status = RunStatus::failed;
  } else if (!res.ran) {
    r.status = RunStatus::skipped;  // dry run
  }
  r.message = res.message;
  return r;
}

// Folds the events a plugin asked for into its record: their failures are its
// failure, their changes its change.
void fold_events(RunRecord& r, const std::vector<EventResult>& results) {
  if (auto failed = events_failed(results); !failed.empty()) {
    r.status = RunStatus::failed;
    r.message = std::move(failed);
    return;
  }
  for (const auto& e : results)
    if (e.summary && e.summary->count(RunStatus::changed) > 0) r.status = RunStatus::changed;
  // A plugin with nothing of its own to do ("skipped") did its job through the events.
  if (r.status == RunStatus::skipped && !results.empty()) r.status = RunStatus::unchanged;
}

}  // namespace

std::string record_key(std::string_view object) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string key;
  key.reserve(object.size());
  for (std::size_t i = 0; i < object.size(); ++i) {
    const auto c = static_cast<unsigned char>(object[i]);
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-' || c == '+' || c == ',' || c == ':' || c == '=' ||
                       c == '@' || (c == '.' && i > 0);
    if (plain) {
      key += static_cast<char>(c);
    } else {
      key += '%';
      key += kHex[c >> 4];
      key += kHex[c & 0xF];
    }
  }
  return key;
}

std::string record_path(std::string_view trigger, std::string_view object) {
  std::string path = std::string(core::paths::kRunsDir) + "/" + std::string(trigger);
  if (!object.empty()) path += "/" + record_key(object);
  return path + ".json";
}

std::vector<std::string> record_paths(const core::Root& root, std::string_view trigger) {
  std::vector<std::string> paths;
  const std::string dir = std::string(core::paths::kRunsDir) + "/" + std::string(trigger);
  if (auto names = root.list_dir(dir, core::Follow::never)) {
    std::sort(names->begin(), names->end());
    for (const auto& n : *names)
      // Keys never start with '.': that is an atomic write's temp file.
      if (!n.starts_with(".") && n.ends_with(".json")) paths.push_back(dir + "/" + n);
  }
  if (auto st = root.lstat(dir + ".json"); st && *st) paths.push_back(dir + ".json");
  return paths;
}

std::vector<EventResult> run_events(core::Context& ctx, std::span<const EventRun> events,
                                    std::span<const BuiltinPlugin> builtins) {
  std::vector<EventResult> results;
  results.reserve(events.size());
  std::vector<std::string> failed_objects;
  for (const auto& e : events) {
    EventResult result{e, std::nullopt};
    if (listed(failed_objects, e.object)) {
      core::log_notice(e.object, ": not running ", e.trigger, ": an earlier event for it failed");
      results.push_back(std::move(result));
      continue;
    }
    // Designated: the default table (every built-in) would link all domains in.
    RunOptions o{.builtins = e.table ? e.table() : builtins};
    o.args = {e.object};
    o.lock = e.lock;
    o.object = e.object;
    result.summary = run_plugins(ctx, e.trigger, o);
    if (result.summary->exit_code() != core::kExitOk) failed_objects.push_back(e.object);
    results.push_back(std::move(result));
  }
  return results;
}

int events_exit_code(const std::vector<EventResult>& results) {
  int code = core::kExitOk;
  for (const auto& r : results)
    if (r.summary) code = std::max(code, r.summary->exit_code());
  return code;
}

std::string events_failed(const std::vector<EventResult>& results) {
  // By trigger, in the order the triggers first failed.
  std::vector<std::pair<std::string, std::string>> by_trigger;
  for (const auto& r : results) {
    if (!r.summary || r.summary->exit_code() == core::kExitOk) continue;
    auto it = std::find_if(by_trigger.begin(), by_trigger.end(),
                           [&](const auto& t) { return t.first == r.event.trigger; });
    if (it == by_trigger.end()) {
      by_trigger.emplace_back(r.event.trigger, r.event.object);
    } else {
      it->second += ", " + r.event.object;
    }
  }
  std::string text;
  for (const auto& [trigger, objects] : by_trigger)
    text += (text.empty() ? "" : "; ") + trigger + " failed for " + objects;
  return text;
}

std::string record_json(const RunSummary& summary) {
  nlohmann::json j;
  j["trigger"] = summary.trigger;
  if (!summary.object.empty()) j["object"] = summary.object;
  j["started"] = summary.started;
  j["finished"] = now_seconds();
  j["duration_ms"] = std::chrono::duration<double, std::milli>(summary.duration).count();
  j["cpu_ms"] = std::chrono::duration<double, std::milli>(summary.cpu).count();
  j["exit_code"] = summary.exit_code();
  j["aborted"] = summary.aborted;
  j["partial"] = summary.partial;
  auto& plugins = j["plugins"] = nlohmann::json::array();
  for (const auto& r : summary.records) {
    plugins.push_back(
        {{"name", r.name},
         {"source", source_name(r.source)},
         {"status", status_name(r.status)},
         {"critical", r.critical},
         {"message", r.message},
         {"duration_ms", std::chrono::duration<double, std::milli>(r.duration).count()},
         {"cpu_ms", std::chrono::duration<double, std::milli>(r.cpu).count()}});
  }
  return j.dump(2) + "\n";
}

std::string_view source_name(Source source) {
  switch (source) {
    case Source::builtin:
      return "built-in";
    case Source::vendor:
      return "vendor";
    case Source::admin:
      return "admin";
    case Source::legacy:
      return "legacy";
  }
  return "?";
}

std::string_view status_name(RunStatus status) {
  switch (status) {
    case RunStatus::unchanged:
      return "unchanged";
    case RunStatus::changed:
      return "changed";
    case RunStatus::ran:
      return "ran";
    case RunStatus::skipped:
      return "skipped";
    case RunStatus::disabled:
      return "disabled";
    case RunStatus::failed:
      return "failed";
  }
  return "?";
}

core::Result<std::vector<PlanEntry>> plan_plugins(const core::Context& ctx,
                                                  std::string_view trigger,
                                                  std::span<const BuiltinPlugin> builtins) {
  if (!is_trigger(trigger))
    return core::make_error(core::Errc::bad_input,
                            "unknown trigger '" + std::string(trigger) + "'");
  std::map<std::string, PlanEntry> by_name;  // std::string order is bytewise
  for (const auto& b : builtins) {
    if (!b.serves(trigger)) continue;
    PlanEntry e;
    e.name = std::string(b.name);
    e.builtin = &b;
    e.summary = std::string(b.summary);
    e.critical = b.critical;
    by_name[e.name] = std::move(e);
  }
  std::vector<std::pair<Source, std::string>> dirs{
      {Source::vendor, std::string(core::paths::kLibPluginsDir) + "/" + std::string(trigger)},
      {Source::admin, std::string(core::paths::kEtcPluginsDir) + "/" + std::string(trigger)},
  };
  // gandi-config ran /etc/gandi/plugins.d/* once the system was up: the config stage.
  if (trigger == "config")
    dirs.insert(dirs.begin() + 1, {Source::legacy, core::paths::kLegacyPluginsDir});
  for (const auto& [source, dir] : dirs) {
    auto names = ctx.root.list_dir(dir);
    if (!names) return std::move(names).error();
    for (const auto& name : *names) {
      if (!valid_plugin_name(name)) {
        core::log_debug("plugin ", dir, "/", name, ": not a plugin name, ignoring");
        continue;
      }
      PlanEntry e;
      // A file under a renamed plugin's old name masks or overrides it still.
      e.name = std::string(current_plugin_name(trigger, name));
      e.source = source;
      e.path = dir + "/" + name;
      e.summary = e.path;
      e.why_disabled = executable_problem(ctx.root, e.path);
      if (source == Source::legacy && e.why_disabled.empty() && is_old_package_plugin(name))
        e.why_disabled = "gandi-hosting-vm2's own plugin, guestkit's built-ins do its job";
      e.enabled = e.why_disabled.empty();
      if (e.why_disabled == "not a regular file") {
        auto st = ctx.root.stat(e.path);
        if (st && *st && S_ISDIR((*st)->st_mode)) continue;  // subdirectories are not plugins
      }
      if (auto it = by_name.find(e.name); it != by_name.end()) {
        e.overrides = it->second.overrides;
        e.overrides.insert(e.overrides.begin(), describe(it->second));
      }
      by_name[e.name] = std::move(e);
    }
  }
  std::vector<PlanEntry> plan;
  plan.reserve(by_name.size());
  for (auto& [name, e] : by_name) {
    for (const std::string_view key : {std::string_view(name), old_plugin_name(trigger, name)}) {
      if (e.enabled && !key.empty() && !ctx.config.plugin_enabled(key)) {
        e.enabled = false;
        e.why_disabled =
            "switched off in config (plugins.enabled: " + std::string(key) + ": false)";
      }
    }
    if (e.enabled && e.builtin && !e.builtin->feature.empty() &&
        !ctx.config.feature_enabled(e.builtin->feature)) {
      e.enabled = false;
      e.why_disabled = "switched off in config (" + std::string(e.builtin->feature) + ": false)";
    }
    plan.push_back(std::move(e));
  }
  return plan;
}

void print_plan(std::ostream& os, std::string_view trigger, const std::vector<PlanEntry>& plan) {
  std::size_t width = 4;
  for (const auto& e : plan) width = std::max(width, e.name.size());
  os << trigger << ": " << plan.size() << (plan.size() == 1 ? " plugin" : " plugins")
     << ", in run order\n";
  for (const auto& e : plan) {
    os << "  " << std::left << std::setw(static_cast<int>(width)) << e.name << "  " << std::setw(8)
       << source_name(e.source) << "  " << std::setw(8) << (e.enabled ? "enabled" : "disabled")
       << "  " << e.summary;
    if (e.critical) os << " [critical]";
    if (!e.enabled) os << " (" << e.why_disabled << ")";
    if (!e.overrides.empty()) {
      os << " (overrides";
      for (const auto& o : e.overrides) os << " " << o;
      os << ")";
    }
    os << "\n";
  }
}

std::size_t RunSummary::count(RunStatus status) const {
  std::size_t n = 0;
  for (const auto& r : records) n += r.status == status;
  return n;
}

int RunSummary::exit_code() const {
  bool critical_failed = aborted;
  bool any_failed = false;
  for (const auto& r : records) {
    if (r.status != RunStatus::failed) continue;
    any_failed = true;
    critical_failed = critical_failed || r.critical;
  }
  if (critical_failed) return core::kExitFailed;
  return any_failed ? core::kExitPartial : core::kExitOk;
}

RunSummary run_plugins(core::Context& ctx, std::string_view trigger, const RunOptions& options) {
  const auto start = Clock::now();
  const auto cpu_start = cpu_now();
  RunSummary summary;
  summary.trigger = std::string(trigger);
  summary.object = options.object;
  summary.started = now_seconds();
  summary.partial = !options.only.empty() || !options.skip.empty();
  auto fail_whole = [&](std::string message) {
    core::log_error(trigger, ": ", message);
    summary.records.push_back({std::string(trigger), Source::builtin, RunStatus::failed, true,
                               std::move(message), Clock::now() - start});
    summary.aborted = true;
    summary.duration = Clock::now() - start;
    return summary;
  };

  auto plan = plan_plugins(ctx, trigger, options.builtins);
  if (!plan) return fail_whole(plan.error().message());

  // Dry-run changes nothing, not even a lock file.
  std::optional<core::Lock> lock;
  if (!options.lock.empty() && !ctx.dry_run) {
    auto l = core::Lock::acquire(ctx.root, options.lock, options.lock_timeout);
    if (!l) return fail_whole(l.error().message());
    lock = std::move(l).value();
  }

  for (auto& e : *plan) {
    if (e.enabled && !options.only.empty() && !listed(options.only, e.name)) {
      e.enabled = false;
      e.why_disabled = "not selected (--only)";
    } else if (e.enabled && listed(options.skip, e.name)) {
      e.enabled = false;
      e.why_disabled = "skipped (--skip)";
    }
    if (!e.enabled) {
      core::log_debug(e.name, ": disabled: ", e.why_disabled);
      summary.records.push_back(
          {e.name, e.source, RunStatus::disabled, e.critical, e.why_disabled, {}});
      continue;
    }
    const auto t0 = Clock::now();
    const auto cpu0 = cpu_now();
    RunRecord r;
    if (e.builtin) {
      r = {e.name, e.source, RunStatus::unchanged, e.critical, {}, {}};
      PluginContext pc{ctx, trigger, options.args, options.env, options.order, {}};
      try {
        auto out = e.builtin->run(pc);
        if (!out) {
          r.status = RunStatus::failed;
          r.message = out.error().message();
        } else {
          r.status = *out == Outcome::changed   ? RunStatus::changed
                     : *out == Outcome::skipped ? RunStatus::skipped
                                                : RunStatus::unchanged;
        }
      } catch (const std::exception& ex) {  // a bug, not an expected failure: keep going
        r.status = RunStatus::failed;
        r.message = std::string("internal error: ") + ex.what();
      }
      // The events it asked for run now, before the next plugin, as part of it: the
      // runner, not the plugin, runs plugins.
      if (r.status != RunStatus::failed && !pc.events.empty())
        fold_events(r, run_events(ctx, pc.events, options.builtins));
    } else {
      r = run_plugin_program(ctx, trigger, e, options);
    }
    r.duration = Clock::now() - t0;
    r.cpu = cpu_now() - cpu0;
    if (r.status == RunStatus::failed) {
      core::log(e.critical ? core::Level::error : core::Level::warning, e.name,
                ": failed: ", r.message, " (", ms(r.duration), ", CPU ", ms(r.cpu), ")");
    } else {
      core::log_info(e.name, ": ", status_name(r.status), r.message.empty() ? "" : ": ", r.message,
                     " (", ms(r.duration), ", CPU ", ms(r.cpu), ")");
    }
    summary.records.push_back(std::move(r));
    if (summary.records.back().status == RunStatus::failed && e.critical) {
      summary.aborted = true;
      core::log_error(trigger, ": critical plugin ", e.name, " failed, not running the rest");
      break;
    }
  }
  summary.duration = Clock::now() - start;
  summary.cpu = cpu_now() - cpu_start;
  core::log_info(
      trigger, ": ", summary.records.size(),
      summary.records.size() == 1 ? " plugin: " : " plugins: ", summary.count(RunStatus::changed),
      " changed, ", summary.count(RunStatus::ran), " ran, ", summary.count(RunStatus::unchanged),
      " unchanged, ", summary.count(RunStatus::failed), " failed, ",
      summary.count(RunStatus::disabled), " disabled (", ms(summary.duration), ", CPU ",
      ms(summary.cpu), ")");
  if (options.record && !ctx.dry_run) write_record(ctx, summary, options);
  return summary;
}

}  // namespace guestkit::plugins
