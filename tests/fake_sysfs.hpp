#pragma once
// A fake /sys/devices/system/{cpu,memory} (and /proc/zoneinfo) under a TempDir, laid out
// like the kernel's with just the files guestkit reads, for the CPU and memory tests.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support.hpp"

namespace guestkit::test {

inline constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
inline constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

class FakeSysfs {
 public:
  explicit FakeSysfs(const TempDir& dir) : dir_(dir) {}

  // cpu0..cpu<count-1>. cpu0 has no online file, like on x86; the others have one that
  // reads 0 for the ids in `offline`, else 1. The kernel's list (cpu/online) says which
  // are up.
  void cpus(unsigned count, const std::vector<unsigned>& offline = {}) const;
  // One cpuN directory; an online file only when `online` is set.
  void cpu(unsigned id, std::optional<bool> online) const;
  void cpu_list(std::string_view online_list) const;  // cpu/online: "0-3,6"
  std::string cpu_online(unsigned id) const;          // content of cpuN/online

  // memory0..memory<count-1> of `block_size` bytes; the ids in `offline` are offline,
  // the others online (state only: valid_zones is block()'s). Also block_size_bytes,
  // auto_online_blocks, and /proc/zoneinfo with the online blocks in kernel zones.
  void memory(unsigned count, std::uint64_t block_size, const std::vector<unsigned>& offline,
              std::string_view auto_online = "offline") const;
  void block(unsigned id, std::string_view state, std::string_view valid_zones = "") const;
  std::string block_state(unsigned id) const;
  // /proc/zoneinfo with one node: DMA32 and Normal (kernel zones) and Movable.
  void zoneinfo(std::uint64_t kernel_bytes, std::uint64_t movable_bytes) const;

  std::string path(std::string_view guest) const;  // host path of a guest path
  // memoryN/phys_index, hexadecimal as the kernel writes it ("%08lx").
  void phys_index(unsigned id, std::uint64_t index) const;

 private:
  const TempDir& dir_;
};

// The kernel's refusals of sysfs writes, for code that takes a writer (a regular file
// in a fake tree accepts every write): EBUSY when memory32 will not go offline,
// EINVAL for a kernel-zone block. Every write asked for is logged in `attempts`
// ("memory32/state=offline"), refused or not.
class SysfsRefusals {
 public:
  // `dir` is the guest directory ("/sys/devices/system/memory/memory32").
  void add(std::string dir, std::string attr, std::string value, int err);
  // The errno to fail this write with, or 0 to let it through.
  int match(std::string_view dir, std::string_view attr, std::string_view value);
  std::vector<std::string> attempts;

 private:
  struct Rule {
    std::string dir, attr, value;
    int err;
  };
  std::vector<Rule> rules_;
};

// Runs `fn` on a thread without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (capabilities
// are per thread), so that even as root the kernel refuses to write a 0444 file: a real
// EACCES from open(2), which is how the tests make sysfs refuse a write. `fn` must not
// use Catch2 assertions (they are not thread-safe): hand results back by capture.
void without_dac_override(const std::function<void()>& fn);

}  // namespace guestkit::test
