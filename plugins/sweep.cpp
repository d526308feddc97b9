#include "plugins/sweep.hpp"

#include <cstdio>

#include "core/log.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins {
namespace {

std::string plural(std::size_t n, const std::string& what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

std::string describe(const SweepReport& r) {
  if (!r.skipped.empty()) return "nothing to do: " + r.skipped;
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.1f ms",
                std::chrono::duration<double, std::milli>(r.duration).count());
  const std::string count = std::to_string(r.onlined.size()) + " of " + plural(r.seen, r.what);
  return (r.dry_run ? "would bring " + count + " online" : count + " brought online") + " (" +
         sysfs::format_ranges(r.prefix, r.onlined) + "), " + std::to_string(r.already) +
         " already online, " + std::to_string(r.failures.size()) + " failed (" + ms + ")";
}

void log_report(const SweepReport& r) {
  for (const auto& [id, error] : r.failures)
    core::log_warning(r.prefix, id, ": ", error.message(), ", left offline");
  core::log_info("coldplug: ", describe(r));
}

core::Result<Outcome> outcome(const SweepReport& r) {
  if (!r.skipped.empty()) return Outcome::skipped;
  if (!r.failures.empty()) {
    std::vector<unsigned> ids;
    for (const auto& [id, error] : r.failures) ids.push_back(id);
    return core::make_error(
        r.failures.front().second.code,
        plural(ids.size(), r.what) + " left offline: " + sysfs::format_ranges(r.prefix, ids));
  }
  return r.onlined.empty() ? Outcome::unchanged : Outcome::changed;
}

}  // namespace guestkit::plugins
