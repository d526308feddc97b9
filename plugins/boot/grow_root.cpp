// 03-grow-root (bootstrap): after the platform enlarged the root disk, grow its last
// partition and the root filesystem; on the first boot of a cloned image whose GPT
// GUIDs are all zero, give the disk and its partitions random ones.
//
// The root filesystem's device comes from boot_util (boot.root_device, or what is
// mounted at the root). Only a GPT disk's last partition is grown, by growpart when
// installed, else by sgdisk (the backup header moved to the end, the entry recreated
// with its start, type, unique GUID and name), then the kernel is told (partx).
// The filesystem is grown when it is smaller than its device: resize2fs (online when
// mounted), xfs_growfs on the mountpoint (xfs cannot grow unmounted). A root on a
// whole disk only gets the filesystem step.

#include <sys/stat.h>

#include <cstdint>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/disk/mounts.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::boot {
namespace {

constexpr std::string_view kZeroGuid = "00000000-0000-0000-0000-000000000000";
// Less free space than this after the last partition is not worth a repartition
// (alignment leftovers and the 33 sectors of the backup GPT).
constexpr std::uint64_t kMinGrowSectors = 2048;

// A partition's number, start or size (sectors) from sysfs; std::nullopt when absent or
// not a plain decimal number (from_chars had taken "12abc" as 12).
std::optional<std::uint64_t> sysfs_number(const core::Root& host, const std::string& name,
                                          const char* attr) {
  auto dir = sysfs::Dir::open(host, std::string(core::paths::kSysClassBlock) + "/" + name,
                              core::Follow::in_root);
  if (!dir) return std::nullopt;
  auto v = dir->read_u64(attr);
  return v && *v ? *v : std::nullopt;
}

struct Part {
  std::string name;
  std::uint64_t number = 0, start = 0, size = 0;  // sectors of 512 bytes
};

// `sgdisk -i N`: "Partition GUID code: 0FC63DAF-... (Linux filesystem)", etc.
std::string info_field(const std::string& out, std::string_view key) {
  auto pos = out.find(key);
  if (pos == std::string::npos) return "";
  pos += key.size();
  auto end = out.find('\n', pos);
  std::string v = out.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  if (auto sp = v.find(' '); sp != std::string::npos && key != "Partition name: ") v.resize(sp);
  return v;
}

core::Status grow_with_sgdisk(const core::Context& ctx, const std::string& disk, const Part& part) {
  const std::string n = std::to_string(part.number);
  const auto change = [&](const std::vector<std::string>& argv) {
    return core::run_tool(ctx, core::ToolEffect::changes, argv, tool_options(ctx));
  };
  if (auto r = change({"sgdisk", "--move-second-header", disk}); !r) return std::move(r).error();
  auto info = core::run_tool(ctx, core::ToolEffect::reads, {"sgdisk", "--info=" + n, disk},
                             tool_options(ctx));
  if (!info) return std::move(info).error();
  const std::string type = info_field(info->out, "Partition GUID code: ");
  const std::string guid = info_field(info->out, "Partition unique GUID: ");
  std::string label = info_field(info->out, "Partition name: ");
  if (label.size() >= 2 && label.front() == '\'' && label.back() == '\'')
    label = label.substr(1, label.size() - 2);
  const std::string first = info_field(info->out, "First sector: ");
  if (type.empty() || guid.empty() || first != std::to_string(part.start))
    return core::make_error(core::Errc::failed,
                            "sgdisk --info=" + n + " " + disk + ": unexpected output");
  std::vector<std::string> argv{"sgdisk", "--delete=" + n, "--new=" + n + ":" + first + ":0",
                                "--typecode=" + n + ":" + type,
                                "--partition-guid=" + n + ":" + guid};
  if (!label.empty()) argv.push_back("--change-name=" + n + ":" + label);
  argv.push_back(disk);
  if (auto r = change(argv); !r) return std::move(r).error();
  if (auto r = change({"partx", "--update", "--nr", n, disk}); !r) return std::move(r).error();
  return {};
}

}  // namespace

core::Result<Outcome> grow_root(PluginContext& p) {
  auto device = root_fs_device(p.ctx);
  if (!device) return Outcome::skipped;  // a plain tree, or no block device under /
  const core::Root host = core::Root::host();
  const std::string name = device->substr(device->rfind('/') + 1);
  auto dev = disk::read_block_device(host, name);
  if (!dev) return std::move(dev).error();
  bool changed = false;

  if (dev->partition) {
    auto whole = disk::read_block_device(host, dev->disk);
    if (!whole) return std::move(whole).error();
    const std::string disk_path = whole->devname;
    auto table = disk::probe_block_device(host, disk_path);
    if (!table) return std::move(table).error();
    if (table->pttype != "gpt") {
      core::log_debug("grow-root: ", disk_path, " has no GPT, leaving the partitions alone");
    } else {
      if (table->ptuuid == kZeroGuid) {
        if (!core::find_program("sgdisk"))
          return core::make_error(
              core::Errc::failed,
              disk_path + " has all-zero GPT GUIDs and sgdisk is not installed");
        if (auto r =
                core::run_tool(p.ctx, core::ToolEffect::changes,
                               {"sgdisk", "--randomize-guids", disk_path}, tool_options(p.ctx));
            !r)
          return std::move(r).error();
        changed = true;
      }
      // Is ours the last partition, and is there room after it?
      std::vector<Part> parts;
      for (const auto& pn : whole->partitions) {
        Part part{pn, sysfs_number(host, pn, "partition").value_or(0),
                  sysfs_number(host, pn, "start").value_or(0),
                  sysfs_number(host, pn, "size").value_or(0)};
        parts.push_back(part);
      }
      const Part* ours = nullptr;
      const Part* last = nullptr;
      for (const auto& part : parts) {
        if (part.name == name) ours = &part;
        if (!last || part.start > last->start) last = &part;
      }
      const std::uint64_t disk_sectors = whole->size_bytes / 512;
      if (!ours || ours != last || ours->number == 0) {
        core::log_debug("grow-root: ", *device, " is not the last partition of ", disk_path);
      } else if (ours->start + ours->size + 34 + kMinGrowSectors <= disk_sectors) {
        const std::string n = std::to_string(ours->number);
        const bool growpart = core::find_program("growpart").has_value();
        if (!growpart && !core::find_program("sgdisk"))
          return core::make_error(core::Errc::failed, "neither growpart nor sgdisk is installed");
        if (growpart) {
          const std::vector<std::string> argv{"growpart", disk_path, n};
          auto r =
              core::run_tool(p.ctx, core::ToolEffect::changes, argv, tool_options(p.ctx, false));
          if (!r) return std::move(r).error();
          // growpart exits 1 with NOCHANGE when there is nothing to do.
          if (!r->success() && r->out.find("NOCHANGE") == std::string::npos)
            return core::tool_error(argv, *r);
        } else if (p.ctx.dry_run) {
          p.ctx.would("grow with sgdisk partition " + disk_path + " " + n);
        } else if (auto s = grow_with_sgdisk(p.ctx, disk_path, *ours); !s) {
          return std::move(s).error();
        }
        changed = true;
      }
    }
  }

  // The filesystem: grown when smaller than its (maybe just grown) device.
  auto fs = disk::probe_block_device(host, *device);
  if (!fs) return std::move(fs).error();
  const bool ext = fs->type == "ext2" || fs->type == "ext3" || fs->type == "ext4";
  if (!ext && fs->type != "xfs") return changed ? Outcome::changed : Outcome::unchanged;
  auto refreshed = disk::read_block_device(host, name);
  const std::uint64_t dev_bytes = refreshed ? refreshed->size_bytes : dev->size_bytes;
  auto geo = disk::read_fs_geometry(host, *device, fs->type);
  if (!geo)
    return core::make_error(core::Errc::failed,
                            "cannot read the size of the filesystem on " + *device);
  // With a grown partition in dry-run the device has not grown yet: report the grow too.
  if (!(p.ctx.dry_run && changed) && geo->size_bytes + (1u << 20) >= dev_bytes)
    return changed ? Outcome::changed : Outcome::unchanged;

  struct stat st {};
  std::optional<std::string> mountpoint;
  if (::stat(device->c_str(), &st) == 0) {
    if (auto table = disk::MountTable::load(host); table) {
      auto mounts = table->mounts_of(st.st_rdev);
      if (!mounts.empty()) mountpoint = mounts.front().target;
    }
  }
  std::vector<std::string> argv;
  if (ext) {
    argv = {"resize2fs", *device};
  } else if (mountpoint) {
    argv = {"xfs_growfs", *mountpoint};
  } else {
    return core::make_error(core::Errc::failed,
                            "xfs on " + *device + " can only grow while mounted");
  }
  if (auto r = core::run_tool(p.ctx, core::ToolEffect::changes, argv, tool_options(p.ctx)); !r)
    return std::move(r).error();
  return Outcome::changed;
}

}  // namespace guestkit::plugins::boot
