// 01-setup-swap (bootstrap): enable the VM's swap device, formatting it only when it
// is provably blank.
//
// The device: swap.device, else (only on the live system) the first block device
// whose GPT partition is labelled "swap" or "guestkitswap", or whose filesystem
// label is "swap". Already in /proc/swaps: nothing to do. Holding a swap signature:
// swapon. Blank (no signature and the first 512 KiB all zero, or a GPT partition of
// the Linux swap type without a signature): mkswap -L swap, then swapon. Anything
// else (a filesystem, LVM, RAID, a partition table) is refused and reported: guestkit
// never formats data. With --root DIR only an explicit swap.device is touched, so an
// image build never enables the builder's swap.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "core/log.hpp"
#include "plugins/builtin/boot_util.hpp"
#include "plugins/builtin/builtin.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/disk/mounts.hpp"

namespace guestkit::plugins::builtin {
namespace {

constexpr std::string_view kGptSwapType = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f";
constexpr std::size_t kBlankBytes = 512 << 10;

bool is_swap_label(const disk::Probe& p) {
  return p.part_name == "swap" || p.part_name == "guestkitswap" ||
         (p.type == "swap" && p.label == "swap");
}

// The first device (natural order) that is labelled as swap.
core::Result<std::optional<std::string>> find_swap_device(const core::Root& host) {
  auto names = disk::list_block_devices(host);
  if (!names) return std::move(names).error();
  for (const auto& name : *names) {
    auto dev = disk::read_block_device(host, name);
    if (!dev || dev->size_bytes == 0 || dev->read_only || !dev->holders.empty()) continue;
    auto probe = disk::probe_block_device(host, dev->devname);
    if (!probe) {
      core::log_debug("swap: ", dev->devname, ": ", probe.error().message(), ", ignoring");
      continue;
    }
    if (is_swap_label(*probe)) return std::optional<std::string>(dev->devname);
  }
  return std::optional<std::string>();
}

core::Result<bool> first_bytes_zero(const std::string& device) {
  int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return core::errno_error("open " + device);
  std::array<char, 65536> buf{};
  std::size_t total = 0;
  bool zero = true;
  while (total < kBlankBytes && zero) {
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(total));
    if (n < 0) {
      auto err = core::errno_error("read " + device);
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    zero = std::all_of(buf.begin(), buf.begin() + n, [](char c) { return c == 0; });
    total += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return zero;
}

}  // namespace

core::Result<Outcome> setup_swap(PluginContext& p) {
  const core::Root host = core::Root::host();
  std::string device = p.ctx.config.swap.device;
  if (device.empty()) {
    if (!p.ctx.root.is_host()) {
      core::log_debug("swap: with --root only swap.device is used");
      return Outcome::skipped;
    }
    auto found = find_swap_device(host);
    if (!found) return std::move(found).error();
    if (!*found) return Outcome::skipped;  // this VM has no swap device
    device = **found;
  }

  struct stat st {};
  if (::stat(device.c_str(), &st) != 0) return core::errno_error(device);
  if (!S_ISBLK(st.st_mode))
    return core::make_error(core::Errc::bad_input, device + " is not a block device");
  auto table = disk::MountTable::load(host);
  if (!table) return std::move(table).error();
  if (table->is_swap(st.st_rdev)) return Outcome::unchanged;  // already on
  if (!table->mounts_of(st.st_rdev).empty())
    return core::make_error(core::Errc::unsafe, device + " is mounted: not using it as swap");

  auto probe = disk::probe_block_device(host, device);
  if (!probe) return std::move(probe).error();
  bool format = false;
  if (probe->type == "swap") {
    format = false;
  } else if (!probe->type.empty() || !probe->pttype.empty()) {
    return core::make_error(
        core::Errc::unsafe,
        device + " holds " + (probe->type.empty() ? probe->pttype + " partitions" : probe->type) +
            ", not swap: refusing to format it");
  } else {
    auto zero = first_bytes_zero(device);
    if (!zero) return std::move(zero).error();
    if (!*zero && probe->part_type != kGptSwapType)
      return core::make_error(
          core::Errc::unsafe,
          device + " is not blank (its first 512 KiB hold data): refusing to format it");
    format = true;
  }

  if (p.ctx.dry_run) {
    if (format) p.ctx.would("mkswap -L swap " + device);
    p.ctx.would("swapon " + device);
    return Outcome::changed;
  }
  if (format) {
    if (auto r = run_tool(p.ctx, {"mkswap", "-L", "swap", device}); !r) return std::move(r).error();
    core::log_debug("swap: formatted ", device);
  }
  if (auto r = run_tool(p.ctx, {"swapon", device}); !r) return std::move(r).error();
  return Outcome::changed;
}

}  // namespace guestkit::plugins::builtin
