#pragma once
// Data disks: which devices are ours, where they mount, and the attach / grow /
// detach / coldplug / status operations the disk plugins and guestkit-disk perform.
//
// Under a --root other than "/" nothing live is touched: the decisions are made
// against the tree (its sysfs, mountinfo and device files) and reported as "would
// ..." lines, exactly like --dry-run.

#include <string>
#include <vector>

#include "core/context.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/disk/mounts.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins::disk {

struct Examined {
  BlockDevice dev;
  Probe probe;
  // Why the device is left alone ("" when it is to be mounted). Not an error: a swap
  // disk or the root disk is simply not a data disk.
  std::string skip;
  // A whole disk with a partition table: its partitions, each handled on its own.
  std::vector<std::string> partitions;
};

// The decision, with no side effect: matched by disk.match/ignore, not the root disk,
// not in use (mounted by someone else, swap, holders), and what it holds.
core::Result<Examined> examine(const core::Context& ctx, const MountTable& mounts,
                               const std::string& name);

// Whether a kernel name is matched by disk.match and not by disk.ignore (the disk of a
// partition counts too: ignoring vdb ignores vdb1).
bool selected(const core::Config& config, const std::string& name, const std::string& disk_name);

// Mountpoint base name for a probed device: the safe label, else the kernel name.
std::string mountpoint_base(const Probe& probe, const std::string& name);

core::Result<Outcome> attach(core::Context& ctx, const std::string& name);
core::Result<Outcome> grow(core::Context& ctx, const std::string& name);
core::Result<Outcome> detach(core::Context& ctx, const std::string& name);

// The events of a coldplug, in order, for the runner (run_events) to run: disk-remove
// for each record whose device is gone (or is another device now), then disk-add for
// each unmounted candidate present that guestkit does not hold. Unreadable records
// are logged and left alone.
core::Result<std::vector<EventRun>> coldplug_events(const core::Context& ctx);
// Table of managed disks on the context's output.
int status(core::Context& ctx);

// The disk plugins (registry_disk.cpp), each beside the operation it runs:
core::Result<Outcome> mount_disk(PluginContext& p);      // 10-mount-disk (attach.cpp)
core::Result<Outcome> grow_disk(PluginContext& p);       // 10-grow-disk (attach.cpp)
core::Result<Outcome> unmount_disk(PluginContext& p);    // 90-unmount-disk (detach.cpp)
core::Result<Outcome> coldplug_disks(PluginContext& p);  // 10-coldplug-disks (coldplug.cpp)

// Whether live actions (mount, fsck, services) may run: the host root, not a dry run.
inline bool live(const core::Context& ctx) { return ctx.root.is_host() && !ctx.dry_run; }

}  // namespace guestkit::plugins::disk
