// 05-mark-root-disk (bootstrap): an empty file in /run/guestkit/root-disk/ for each
// device of the disk holding "/" (the disk and its partitions), so that systemd does
// not start guestkit-disk@ for them (guestkit-disk@.service: ConditionPathExists=!,
// ordered after the bootstrap stage).
//
// Why: udev's coldplug starts guestkit-disk@NAME for every disk and partition that
// disk.match names, at every boot, the root disk's too, and a udev rule cannot tell
// the root disk. Each such start cost about 150 ms of a TCG guest's one vCPU (the
// unit's sandbox, the exec, the probe) to conclude "on the root disk, ignoring",
// beside sshd's start (bench/README.md, seed-first-boot); a Debian cloud image's root
// disk is four devices (vda, vda1, vda14, vda15). The markers only save those starts:
// guestkit-disk refuses the root disk by itself, with or without them.
//
// Live systems only: under --root no systemd of that root is running to read them.

#include <algorithm>
#include <set>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/undo_record.hpp"

namespace guestkit::plugins::boot {

std::vector<std::string> root_disk_devices(const core::Root& host, const std::string& root_name) {
  auto disk = disk::disk_of(host, root_name);
  if (!disk) return {};
  std::set<std::string> names{*disk, root_name};
  if (auto dev = disk::read_block_device(host, *disk))
    names.insert(dev->partitions.begin(), dev->partitions.end());
  return {names.begin(), names.end()};
}

core::Result<bool> write_root_disk_marks(const core::Context& ctx,
                                         const std::vector<std::string>& names) {
  const std::string dir = core::paths::kRootDiskMarkDir;
  auto present = ctx.root.list_dir(dir, core::Follow::never);
  if (!present) return std::move(present).error();
  bool changed = false;
  // Markers of devices that are not the root disk's now (/run is new at every boot, so
  // only after a change of boot.root_device and a bootstrap run by hand).
  for (const auto& name : *present) {
    if (name.front() == '.' || std::find(names.begin(), names.end(), name) != names.end())
      continue;
    if (ctx.dry_run) {
      ctx.would("remove " + dir + "/" + name);
    } else if (auto r = undo::remove(ctx.root, dir + "/" + name); !r) {
      return std::move(r).error();
    }
    changed = true;
  }
  for (const auto& name : names) {
    if (std::find(present->begin(), present->end(), name) != present->end()) continue;
    if (ctx.dry_run) {
      ctx.would("mark " + name + " as a device of the root disk in " + dir);
    } else {
      core::WriteOptions o;
      o.create_parents = true;
      o.durable = false;  // /run: gone at the next boot, as what it describes
      o.follow = core::Follow::never;
      if (auto w = core::write_file_atomic(ctx.root, dir + "/" + name, "", o); !w)
        return std::move(w).error();
    }
    changed = true;
  }
  return changed;
}

core::Result<Outcome> mark_root_disk(PluginContext& p) {
  if (!p.ctx.root.is_host()) return Outcome::skipped;  // no systemd of that root reads them
  auto device = root_fs_device(p.ctx);
  if (!device) return Outcome::skipped;  // "/" on no block device (a container, NFS)
  const std::string name = device->substr(device->rfind('/') + 1);
  const auto names = root_disk_devices(core::Root::host(), name);
  if (names.empty()) {
    core::log_debug("mark-root-disk: ", *device, " is on no disk in sysfs");
    return Outcome::skipped;
  }
  auto changed = write_root_disk_marks(p.ctx, names);
  if (!changed) return std::move(changed).error();
  return *changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::boot
