#include "plugins/boot/report.hpp"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {
namespace {

struct Line {
  double ms = 0;
  double cpu_ms = -1;  // -1: a record from before guestkit counted CPU time
  std::string what;    // stage/plugin
  std::string status;  // changed, failed: message...
};

std::string utc(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm)) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string seconds_text(double ms) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(5) << std::setw(10) << ms / 1000.0 << "s";
  return os.str();
}

// The last seed run (/run/guestkit/seed.json, written without secrets by guestkit-seed
// and 00-apply-seed): source, instance, state, and each key not applied.
void print_seed_summary(std::ostream& os, const core::Root& root) {
  auto text =
      core::read_file_if_exists(root, core::paths::kSeedReport, 1 << 20, core::Follow::never);
  if (!text || !*text) return;
  auto j = nlohmann::json::parse(**text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    os << "seed: " << root.display(core::paths::kSeedReport) << " is not a seed summary\n";
    return;
  }
  const auto str = [&](const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  os << "seed: " << str("state") << " (" << str("source");
  if (!str("origin").empty()) os << " " << str("origin");
  if (!str("instance_id").empty()) os << ", instance " << str("instance_id");
  os << ")";
  if (!str("error").empty()) os << ": " << str("error");
  os << "\n";
  if (j.contains("not_applied") && j["not_applied"].is_array())
    for (const auto& item : j["not_applied"])
      if (item.is_object())
        os << "  not applied: " << core::sanitize_for_log(item.value("key", std::string("?")))
           << ": " << core::sanitize_for_log(item.value("why", std::string())) << "\n";
}

}  // namespace

bool print_boot_report(std::ostream& os, const core::Root& root) {
  std::vector<Line> lines;
  std::vector<std::string> stages;
  bool ok = true;
  for (const auto stage : kBootStages) {
    const std::string path =
        std::string(core::paths::kBootReportPrefix) + std::string(stage) + ".json";
    auto text = core::read_file_if_exists(root, path, 1 << 20, core::Follow::never);
    if (!text) {
      stages.push_back(std::string(stage) + ": " + text.error().message());
      ok = false;
      continue;
    }
    if (!*text) {
      stages.push_back(std::string(stage) + ": not run since boot");
      continue;
    }
    auto j = nlohmann::json::parse(**text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("plugins") || !j["plugins"].is_array()) {
      stages.push_back(std::string(stage) + ": " + root.display(path) + " is not a run record");
      ok = false;
      continue;
    }
    std::ostringstream s;
    s << stage << ": " << std::fixed << std::setprecision(1) << j.value("duration_ms", 0.0) << " ms";
    if (j.contains("cpu_ms")) s << ", CPU " << j.value("cpu_ms", 0.0) << " ms";
    s << ", exit " << j.value("exit_code", -1) << ", finished "
      << utc(j.value("finished", std::int64_t{0}));
    if (j.value("partial", false)) s << " (--only/--skip: partial)";
    if (j.value("aborted", false)) s << " (aborted: a critical plugin failed)";
    stages.push_back(s.str());
    for (const auto& p : j["plugins"]) {
      if (!p.is_object()) continue;
      Line l;
      l.ms = p.value("duration_ms", 0.0);
      l.cpu_ms = p.value("cpu_ms", -1.0);
      l.what = std::string(stage) + "/" + p.value("name", std::string("?"));
      l.status = p.value("status", std::string("?"));
      const std::string message = p.value("message", std::string());
      if (!message.empty()) l.status += ": " + message;
      lines.push_back(std::move(l));
    }
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const Line& a, const Line& b) { return a.ms > b.ms; });
  os << "-- guestkit boot report (slowest first) --\n";
  for (const auto& l : lines) {
    os << seconds_text(l.ms) << " (" << l.what << ") " << l.status;
    if (l.cpu_ms >= 0)
      os << "; CPU " << std::fixed << std::setprecision(5) << l.cpu_ms / 1000.0 << "s";
    os << "\n";
  }
  os << "\n";
  for (const auto& s : stages) os << s << "\n";
  print_seed_summary(os, root);
  return ok && !lines.empty();
}

}  // namespace guestkit::plugins
