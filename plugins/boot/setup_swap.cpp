// 01-setup-swap (bootstrap): enable the VM's swap device, formatting it only when it
// is provably blank.
//
// The device: swap.device, else (only on the live system) seed::find_swap_device: the
// first block device whose GPT partition is labelled "swap", "guestkitswap" or
// "gandiswap", or whose filesystem label is "swap", else the old platform's whole disks
// xvdz, then sdb when it is not the root disk (only when blank or swap). Already in
// /proc/swaps: nothing to do. Holding a swap signature: swapon. Blank (no signature
// and the first 512 KiB all zero, or a GPT partition of the Linux swap type without a
// signature): mkswap -L swap, then swapon. Anything else (a filesystem, LVM, RAID, a
// partition table) is refused and reported: guestkit never formats data. With --root
// DIR only an explicit swap.device is touched, so an image build never enables the
// builder's swap.
//
// The platform's seed tar at 512 KiB of the swap disk (plugins/seed) was read by
// 00-apply-seed, first in this stage; it holds secrets (passwords, the agent key), and
// mkswap only writes the first page, so the tar's bytes are zeroed here before the
// area becomes swap, also when they lie on the swap disk outside the swap partition
// in space no partition uses (a GPT's partition starts at 1 MiB). A seed tar after
// 512 zero KiB keeps a disk blank.

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <tuple>
#include <utility>
#include <vector>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/disk/mounts.hpp"
#include "plugins/seed/discover.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::boot {
namespace {

constexpr std::string_view kGptSwapType = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f";
constexpr std::size_t kBlankBytes = 512 << 10;

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

// Where the seed tar at 512 KiB of the whole disk lies on `device` (itself the disk,
// or a partition of it): the device and offset to zero, and how many bytes. nullopt
// when there is no seed tar. A seed outside `device` is erased on the whole disk when
// it lies in unpartitioned space (the usual gap between a GPT and a first partition at
// 1 MiB): those bytes are the seed that 00-apply-seed just read and nothing else, and
// left there they would keep its secrets; a seed that overlaps another partition is
// not ours to erase (reported, left alone).
struct SeedArea {
  std::string device;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// A partition's first byte and size from sysfs.
core::Result<std::pair<std::uint64_t, std::uint64_t>> partition_extent(const core::Root& host,
                                                                       const std::string& name) {
  auto dir = sysfs::Dir::open(host, std::string(core::paths::kSysClassBlock) + "/" + name,
                              core::Follow::in_root);
  if (!dir) return std::move(dir).error();
  std::uint64_t v[2] = {0, 0};
  const char* files[2] = {"start", "size"};
  for (int i = 0; i < 2; ++i) {
    auto sectors = dir->read_u64(files[i]);
    if (!sectors) return std::move(sectors).error();
    if (!*sectors || **sectors > UINT64_MAX / 512)
      return core::make_error(core::Errc::bad_input,
                              "unreadable " + std::string(files[i]) + " of partition " + name);
    v[i] = **sectors * 512;
  }
  return std::pair<std::uint64_t, std::uint64_t>(v[0], v[1]);
}

core::Result<std::optional<SeedArea>> find_seed_area(const core::Root& host,
                                                     const std::string& device, dev_t devno) {
  std::string whole = device;
  std::uint64_t start = 0, size = 0;
  std::vector<std::string> siblings;  // every partition of the whole disk
  std::uint64_t disk_size = 0;
  if (auto name = disk::block_name_of(host, devno)) {
    auto dev = disk::read_block_device(host, *name);
    if (dev && dev->partition) {
      whole = core::paths::kDevPrefix + dev->disk;
      auto extent = partition_extent(host, *name);
      if (!extent) return std::move(extent).error();
      std::tie(start, size) = *extent;
      auto disk = disk::read_block_device(host, dev->disk);
      if (!disk) return std::move(disk).error();
      siblings = disk->partitions;
      disk_size = disk->size_bytes;
    }
  }
  core::UniqueFd fd(::open(whole.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return core::errno_error("open " + whole);
  auto extent = seed::swap_seed_extent(fd.get());
  if (!extent) return std::move(extent).error();
  if (!*extent) return std::optional<SeedArea>();
  const std::uint64_t first = seed::kSwapSeedOffset, last = first + **extent;
  if (whole == device) return std::optional<SeedArea>(SeedArea{device, first, **extent});
  if (first >= start && last <= start + size)
    return std::optional<SeedArea>(SeedArea{device, first - start, **extent});
  // Outside the swap partition: only in space no partition and no GPT (34 sectors at
  // each end) uses.
  constexpr std::uint64_t kGptArea = 34 * 512;
  bool free = first >= kGptArea && disk_size >= kGptArea && last <= disk_size - kGptArea;
  for (const auto& part : siblings) {
    if (!free) break;
    auto e = partition_extent(host, part);
    if (!e) return std::move(e).error();
    if (first < e->first + e->second && e->first < last) free = false;
  }
  if (!free) {
    core::log_notice("swap: the seed tar on ", whole, " overlaps a partition other than ", device,
                     ": not erased");
    return std::optional<SeedArea>();
  }
  return std::optional<SeedArea>(SeedArea{whole, first, **extent});
}

// Zeroes the seed's bytes (BLKZEROOUT: the device writes zeros itself), with an
// exclusive open so that nothing that holds the device open is written under.
core::Status erase_seed(const SeedArea& area) {
  core::UniqueFd fd(::open(area.device.c_str(), O_WRONLY | O_CLOEXEC | O_EXCL));
  if (!fd) return core::errno_error("open " + area.device + " to erase the seed");
  std::uint64_t range[2] = {area.offset, area.length};
  if (::ioctl(fd.get(), BLKZEROOUT, &range) != 0)
    return core::errno_error("erase the seed on " + area.device);
  if (::fsync(fd.get()) != 0) return core::errno_error("fsync " + area.device);
  return {};
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
    auto found = seed::find_swap_device(host);
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

  auto seed_area = find_seed_area(host, device, st.st_rdev);
  if (!seed_area) return std::move(seed_area).error();

  if (*seed_area && p.ctx.dry_run) {
    p.ctx.would("erase the seed tar on " + device + " (" + std::to_string((*seed_area)->length) +
                " bytes)");
  } else if (*seed_area) {
    if (auto r = erase_seed(**seed_area); !r) return std::move(r).error();
    core::log_notice("swap: erased the seed tar on ", (*seed_area)->device, " (",
                     (*seed_area)->length, " bytes)");
  }
  const auto change = [&](const std::vector<std::string>& argv) {
    return core::run_tool(p.ctx, core::ToolEffect::changes, argv, tool_options(p.ctx));
  };
  if (format) {
    if (auto r = change({"mkswap", "-L", "swap", device}); !r) return std::move(r).error();
    if (!p.ctx.dry_run) core::log_debug("swap: formatted ", device);
  }
  if (auto r = change({"swapon", device}); !r) return std::move(r).error();
  return Outcome::changed;
}

}  // namespace guestkit::plugins::boot
