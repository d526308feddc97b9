// Discovery of a live system's seeds, in the documented order (discover.hpp), and the
// swap device 01-setup-swap shares with it.

#include "plugins/seed/discover.hpp"

#include <sys/stat.h>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/disk/mounts.hpp"
#include "plugins/seed/archive.hpp"
#include "plugins/seed/readers.hpp"

namespace guestkit::plugins::seed {
namespace {

bool is_swap_label(const disk::Probe& p) {
  return p.part_name == "swap" || p.part_name == "guestkitswap" || p.part_name == "gandiswap" ||
         (p.type == "swap" && p.label == "swap");
}

// The whole disk holding "/" ("" if unknown).
std::string root_disk(const core::Root& host) {
  auto table = disk::MountTable::load(host);
  if (!table || table->root_devno() == 0) return "";
  auto name = disk::block_name_of(host, table->root_devno());
  if (!name) return "";
  return disk::disk_of(host, *name).value_or("");
}

void note(std::vector<std::string>* ignored, std::string text) {
  core::log_debug("seed: ", text);
  if (ignored) ignored->push_back(std::move(text));
}

// The in-swap seed: the whole disk of the swap device, when the swap device holds
// nothing but (possibly) swap.
void discover_swap(const core::Root& host, const std::string& configured, std::vector<Found>& found,
                   std::vector<std::string>* ignored) {
  std::string device = configured;
  if (device.empty()) {
    auto dev = find_swap_device(host);
    if (!dev || !*dev) return;
    device = **dev;
  }
  auto fd = detail::open_device(device);
  if (!fd) return note(ignored, device + ": " + fd.error().message() + ", ignoring");
  // Swap in use holds the memory's pages, not a seed: never parse those.
  struct stat dst {};
  if (::fstat(fd->get(), &dst) == 0 && S_ISBLK(dst.st_mode)) {
    if (auto table = disk::MountTable::load(host); table && table->is_swap(dst.st_rdev)) return;
  }
  auto probe = detail::probe_fd(fd->get(), device);
  if (!probe) return note(ignored, probe.error().message() + ", ignoring");
  if (!probe->type.empty() && probe->type != "swap")
    return note(ignored, "swap device " + device + " holds " + probe->type +
                             ": its in-swap seed, if any, is ignored");
  // The seed is at 512 KiB of the whole disk, also when swap is a partition of it.
  std::string whole = device;
  struct stat st {};
  if (::fstat(fd->get(), &st) == 0 && S_ISBLK(st.st_mode)) {
    if (auto name = disk::block_name_of(host, st.st_rdev)) {
      if (auto d = disk::disk_of(host, *name); d && *d != *name)
        whole = core::paths::kDevPrefix + *d;
    }
  }
  core::UniqueFd disk_fd;
  if (whole != device) {
    auto w = detail::open_device(whole);
    if (!w) return note(ignored, whole + ": " + w.error().message() + ", ignoring");
    disk_fd = std::move(*w);
  } else {
    disk_fd = std::move(*fd);
  }
  auto tar = detail::read_swap_tar(disk_fd.get(), whole, false);
  if (!tar) return note(ignored, whole + ": " + tar.error().message() + ", ignoring");
  if (!*tar) return;
  found.push_back(
      {(*tar)->files.kind, Medium::swap_tar, whole, "tar at 512 KiB of swap disk " + whole});
}

void discover_devices(const core::Root& host, std::vector<Found>& nocloud,
                      std::vector<Found>& configdrive, std::vector<std::string>* ignored) {
  auto names = disk::list_block_devices(host);
  if (!names) return note(ignored, "cannot list block devices: " + names.error().message());
  for (const auto& name : *names) {
    auto dev = disk::read_block_device(host, name);
    if (!dev || dev->size_bytes == 0) continue;
    auto fd = detail::open_device(dev->devname);
    if (!fd) continue;  // an empty cdrom drive, a device that went away
    auto probe = detail::probe_fd(fd->get(), dev->devname);
    if (!probe) {
      core::log_debug("seed: ", probe.error().message(), ", ignoring");
      continue;
    }
    if (probe->type != "iso9660" && probe->type != "vfat") continue;
    const Medium medium = probe->type == "iso9660" ? Medium::iso9660 : Medium::vfat;
    if (probe->label == "cidata" || probe->label == "CIDATA")
      nocloud.push_back(
          {SourceKind::nocloud, medium, dev->devname, probe->type + " labelled " + probe->label});
    else if (probe->label == "config-2" || probe->label == "CONFIG-2")
      configdrive.push_back({SourceKind::configdrive, medium, dev->devname,
                             probe->type + " labelled " + probe->label});
  }
}

bool is_dir(const core::Root& root, const std::string& path) {
  auto st = root.stat(path);
  return st && *st && S_ISDIR((*st)->st_mode);
}

void discover_ds(const core::Root& root, const char* file, const char* what,
                 std::vector<Found>& out, std::vector<std::string>* ignored) {
  auto text = core::read_file_if_exists(root, file, 64u << 10);
  if (!text || !*text) return;
  auto dir = ds_seed_dir(**text);
  if (!dir) return;
  if (!is_dir(root, *dir))
    return note(ignored,
                std::string("ds=nocloud in ") + what + ": " + *dir + " is not a directory");
  out.push_back({SourceKind::nocloud, Medium::directory, *dir,
                 std::string("ds=nocloud;s=file:// in ") + what});
}

}  // namespace

core::Result<std::optional<std::string>> find_swap_device(const core::Root& host) {
  auto names = disk::list_block_devices(host);
  if (!names) return std::move(names).error();
  std::optional<std::string> xvdz, sdb;
  for (const auto& name : *names) {
    auto dev = disk::read_block_device(host, name);
    if (!dev || dev->size_bytes == 0 || dev->read_only || !dev->holders.empty()) continue;
    auto probe = disk::probe_block_device(host, dev->devname);
    if (!probe) {
      core::log_debug("swap: ", dev->devname, ": ", probe.error().message(), ", ignoring");
      continue;
    }
    if (is_swap_label(*probe)) return std::optional<std::string>(dev->devname);
    // The old platform's swap disks, by name: only when they hold swap or nothing, so
    // a customer's data disk that happens to be called sdb is never a candidate.
    const bool blank_or_swap =
        probe->type == "swap" || (probe->type.empty() && probe->pttype.empty());
    if (dev->partition || !blank_or_swap) continue;
    if (name == "xvdz") xvdz = dev->devname;
    if (name == "sdb") sdb = dev->devname;
  }
  if (xvdz) return xvdz;
  if (sdb && root_disk(host) != "sdb") return sdb;
  return std::optional<std::string>();
}

std::vector<Found> discover(const core::Root& root, const std::string& swap_device,
                            std::vector<std::string>* ignored) {
  std::vector<Found> found;
  if (!root.is_host()) return found;  // discovery is for the live system only
  discover_swap(root, swap_device, found, ignored);
  std::vector<Found> devices, configdrive;
  discover_devices(root, devices, configdrive, ignored);
  discover_ds(root, core::paths::kProcCmdline, "the kernel command line", found, ignored);
  discover_ds(root, core::paths::kDmiProductSerial, "the SMBIOS system serial", found, ignored);
  found.insert(found.end(), devices.begin(), devices.end());
  // An image's seed directory counts when it holds something (cloud-init's images
  // often ship the directory empty).
  const std::string dir = core::paths::kNoCloudSeedDir;
  auto has = [&](const char* f) {
    auto st = root.lstat(dir + "/" + f);
    return st && *st;
  };
  if (is_dir(root, dir) && (has("meta-data") || has("user-data")))
    found.push_back({SourceKind::nocloud, Medium::directory, core::paths::kNoCloudSeedDir,
                     "the image's seed directory"});
  found.insert(found.end(), configdrive.begin(), configdrive.end());
  return found;
}

core::Result<SeedFiles> read(const core::Root& root, const Found& found) {
  switch (found.medium) {
    case Medium::directory:
      return read_dir(root, found.path, found.kind);
    case Medium::swap_tar: {
      auto fd = detail::open_device(found.path);
      if (!fd) return std::move(fd).error();
      auto tar = read_swap_seed(fd->get(), found.path);
      if (!tar) return std::move(tar).error();
      if (!*tar)
        return core::make_error(core::Errc::bad_input, found.path + ": the seed tar is gone");
      return std::move(**tar);
    }
    case Medium::iso9660:
    case Medium::vfat:
      return read_device(found.path, found.kind);
  }
  return core::make_error(core::Errc::bad_input, "unknown seed medium");
}

}  // namespace guestkit::plugins::seed
