#include "tests/fake_sysfs.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace guestkit::test {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCpu = "sys/devices/system/cpu";
constexpr const char* kMemory = "sys/devices/system/memory";

bool contains(const std::vector<unsigned>& ids, unsigned id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// A 0644 file, its parents made as needed: plain system calls, because a test lays out
// thousands of these and TempDir::write (streams, chmod) is several times slower.
void put(const fs::path& file, std::string_view content) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 && errno == ENOENT) {
    fs::create_directories(file.parent_path());
    fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (fd < 0) throw std::runtime_error("cannot create " + file.string());
  const bool ok =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace

void FakeSysfs::cpu(unsigned id, std::optional<bool> online) const {
  const std::string dir = std::string(kCpu) + "/cpu" + std::to_string(id);
  std::filesystem::create_directories(dir_.path() / dir);
  if (online) dir_.write(dir + "/online", *online ? "1\n" : "0\n");
}

void FakeSysfs::cpus(unsigned count, const std::vector<unsigned>& offline) const {
  std::string list;
  for (unsigned id = 0; id < count; ++id) {
    cpu(id, id == 0 ? std::nullopt : std::optional<bool>(!contains(offline, id)));
    if (!contains(offline, id)) list += (list.empty() ? "" : ",") + std::to_string(id);
  }
  cpu_list(list);
}

void FakeSysfs::cpu_list(std::string_view online_list) const {
  dir_.write(std::string(kCpu) + "/online", std::string(online_list) + "\n");
}

std::string FakeSysfs::cpu_online(unsigned id) const {
  return dir_.read(std::string(kCpu) + "/cpu" + std::to_string(id) + "/online");
}

void FakeSysfs::block(unsigned id, std::string_view state, std::string_view valid_zones) const {
  const fs::path dir = dir_.path() / kMemory / ("memory" + std::to_string(id));
  put(dir / "state", std::string(state) + "\n");
  if (!valid_zones.empty()) put(dir / "valid_zones", std::string(valid_zones) + "\n");
}

void FakeSysfs::memory(unsigned count, std::uint64_t block_size,
                       const std::vector<unsigned>& offline, std::string_view auto_online) const {
  char hex[32];
  std::snprintf(hex, sizeof hex, "%llx\n", static_cast<unsigned long long>(block_size));
  dir_.write(std::string(kMemory) + "/block_size_bytes", hex);
  dir_.write(std::string(kMemory) + "/auto_online_blocks", std::string(auto_online) + "\n");
  std::uint64_t online = 0;
  for (unsigned id = 0; id < count; ++id) {
    if (contains(offline, id)) {
      block(id, "offline");
    } else {
      block(id, "online");
      online += block_size;
    }
  }
  zoneinfo(online, 0);
}

std::string FakeSysfs::block_state(unsigned id) const {
  return dir_.read(std::string(kMemory) + "/memory" + std::to_string(id) + "/state");
}

void FakeSysfs::zoneinfo(std::uint64_t kernel_bytes, std::uint64_t movable_bytes) const {
  const auto pages = [](std::uint64_t bytes) {
    return std::to_string(bytes / static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  };
  // The shape of a real one, trimmed: the first "present" after a zone header counts.
  const std::string dma32 = kernel_bytes >= 16 * kMiB ? pages(16 * kMiB) : "0";
  const std::string normal =
      pages(kernel_bytes >= 16 * kMiB ? kernel_bytes - 16 * kMiB : kernel_bytes);
  dir_.write("proc/zoneinfo",
             "Node 0, zone    DMA32\n  per-node stats\n      nr_inactive_anon 7\n"
             "  pages free     100\n        min      1\n        spanned  9999\n"
             "        present  " +
                 dma32 +
                 "\n        managed  1\n"
                 "Node 0, zone   Normal\n  pages free     1\n        present  " +
                 normal +
                 "\n"
                 "        managed  1\n"
                 "Node 0, zone  Movable\n  pages free     0\n        present  " +
                 pages(movable_bytes) +
                 "\n        managed  0\n"
                 "Node 0, zone   Device\n  pages free     0\n        present  4096\n");
}

std::string FakeSysfs::path(std::string_view guest) const {
  return (dir_.path() / std::filesystem::path(guest).relative_path()).string();
}

void FakeSysfs::phys_index(unsigned id, std::uint64_t index) const {
  char hex[32];
  std::snprintf(hex, sizeof hex, "%08llx\n", static_cast<unsigned long long>(index));
  put(dir_.path() / kMemory / ("memory" + std::to_string(id)) / "phys_index", hex);
}

void SysfsRefusals::add(std::string dir, std::string attr, std::string value, int err) {
  rules_.push_back({std::move(dir), std::move(attr), std::move(value), err});
}

int SysfsRefusals::match(std::string_view dir, std::string_view attr, std::string_view value) {
  const auto slash = dir.rfind('/');
  attempts.push_back(std::string(dir.substr(slash == std::string_view::npos ? 0 : slash + 1)) +
                     "/" + std::string(attr) + "=" + std::string(value));
  for (const auto& r : rules_)
    if (r.dir == dir && r.attr == attr && r.value == value) return r.err;
  return 0;
}

void without_dac_override(const std::function<void()>& fn) {
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
      if (::syscall(SYS_capget, &header, data) != 0) throw std::runtime_error("capget failed");
      for (int cap : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH})
        data[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
      // Only this thread's effective set: the rest of the test process keeps its powers.
      if (::syscall(SYS_capset, &header, data) != 0) throw std::runtime_error("capset failed");
      fn();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace guestkit::test
