#include "plugins/memory/memory_zones.hpp"

#include <charconv>
#include <cstdio>

#include "core/files.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::memory {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// First whitespace-separated word of `s`, and the rest after it.
std::pair<std::string_view, std::string_view> word(std::string_view s) {
  s = trim(s);
  const auto end = s.find_first_of(" \t");
  if (end == std::string_view::npos) return {s, {}};
  return {s.substr(0, end), trim(s.substr(end))};
}

std::string ratio_text(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", ratio);
  return buf;
}

}  // namespace

std::optional<ZoneTotals> parse_zoneinfo(std::string_view text, std::uint64_t page_size) {
  ZoneTotals totals;
  bool found = false;
  enum class Zone { none, kernel, movable, device } zone = Zone::none;
  bool counted = false;  // the current zone's "present" was seen
  for (const auto& line : core::split_lines(text)) {
    // "Node 0, zone   Normal"
    if (line.rfind("Node ", 0) == 0) {
      const auto at = line.find("zone");
      const std::string_view name = at == std::string::npos
                                        ? std::string_view{}
                                        : trim(std::string_view(line).substr(at + 4));
      zone = name.empty()               ? Zone::none
             : iequals(name, "Movable") ? Zone::movable
             : iequals(name, "Device")  ? Zone::device
                                        : Zone::kernel;
      counted = false;
      continue;
    }
    // "        present  5505024": the first one after the header belongs to the zone.
    const auto [key, value] = word(line);
    if (zone == Zone::none || counted || key != "present") continue;
    std::uint64_t pages = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), pages);
    if (ec != std::errc{} || end != value.data() + value.size()) continue;
    counted = true;
    found = true;
    if (zone == Zone::kernel) totals.kernel += pages * page_size;
    if (zone == Zone::movable) totals.movable += pages * page_size;
  }
  if (!found) return std::nullopt;
  return totals;
}

Decision decide(const core::MemoryConfig& config, const std::optional<ZoneTotals>& zones,
                std::uint64_t block_size, std::string_view valid_zones, bool explain) {
  switch (config.online_policy) {
    case core::MemoryPolicy::online:
      return {"online", "policy online"};
    case core::MemoryPolicy::online_movable:
      return {"online_movable", "policy online_movable"};
    case core::MemoryPolicy::online_kernel:
      return {"online_kernel", "policy online_kernel"};
    case core::MemoryPolicy::automatic:
      break;
  }
  // valid_zones of an offline block: "Normal Movable", "DMA32 Normal Movable", "Movable"
  // (the kernel's default first); "None"/"none" or absent says nothing.
  bool movable_ok = false, kernel_ok = false;
  for (std::string_view rest = valid_zones; !rest.empty();) {
    auto [zone, tail] = word(rest);
    rest = tail;
    if (iequals(zone, "Movable"))
      movable_ok = true;
    else if (!zone.empty() && !iequals(zone, "None"))
      kernel_ok = true;
  }
  if (kernel_ok != movable_ok) {
    Decision d{kernel_ok ? "online_kernel" : "online_movable", {}};
    if (explain) d.why = "auto: the kernel offers only '" + std::string(trim(valid_zones)) + "'";
    return d;
  }
  if (!zones || zones->kernel == 0 || block_size == 0)
    return {"online", explain ? "auto: zone sizes unknown, the kernel picks" : ""};

  const double limit = config.movable_ratio * static_cast<double>(zones->kernel);
  const bool fits = static_cast<double>(zones->movable + block_size) <= limit;
  Decision d{fits ? "online_movable" : "online_kernel", {}};
  if (explain)
    d.why = "auto: movable " + sysfs::format_bytes(zones->movable) + " + " +
            sysfs::format_bytes(block_size) + (fits ? " <= " : " > ") +
            ratio_text(config.movable_ratio) + " x kernel " + sysfs::format_bytes(zones->kernel);
  return d;
}

void account(ZoneTotals& zones, std::string_view state, std::uint64_t block_size) {
  if (state == "online_movable") zones.movable += block_size;
  if (state == "online_kernel") zones.kernel += block_size;
  // Plain "online": the kernel chose, we do not know which zone; the next read of
  // /proc/zoneinfo will.
}

}  // namespace guestkit::plugins::memory
