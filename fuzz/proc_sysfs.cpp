// The kernel's own text that the cpu and memory plugins parse: range lists
// ("0-3,6" in /sys/devices/system/cpu/online), /proc/zoneinfo, indexed names
// ("cpu12", "memory40"), and the agent key file's hex. Ranges are well-formed and
// their formatting parses back to the same ids.

#include <algorithm>
#include <string>
#include <vector>

#include "agent/protocol.hpp"
#include "fuzz/fuzz.hpp"
#include "plugins/memory/memory_zones.hpp"
#include "plugins/sysfs.hpp"

namespace b = guestkit::plugins::sysfs;
namespace mem = guestkit::plugins::memory;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz_text(data, size);
  if (auto ranges = b::parse_ranges(text)) {
    std::vector<unsigned> ids;
    for (const auto& [first, last] : *ranges) {
      FUZZ_CHECK(first <= last);
      if (last - first > 4096 || ids.size() > 65536) return 0;  // keep each run cheap
      for (unsigned id = first;; ++id) {
        ids.push_back(id);
        if (id == last) break;
      }
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const auto formatted = b::format_ranges("", ids);
    if (!ids.empty()) {
      auto back = b::parse_ranges(formatted);
      FUZZ_CHECK(back);
      for (unsigned id : ids) FUZZ_CHECK(b::in_ranges(*back, id));
    }
  }
  (void)mem::parse_zoneinfo(text, 4096);
  (void)b::parse_indexed_name(text, "cpu");
  (void)b::parse_indexed_name(text, "memory");
  (void)guestkit::agent::parse_key_text(text);
  return 0;
}
