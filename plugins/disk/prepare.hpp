#pragma once
// prepare-detach: what disk-remove does (pre-disk-detach hook, the services of
// MOUNT/.guestkit/services stopped, sync, unmount, the record dropped), but before the
// platform unplugs the disk, and only when it can all be done: otherwise nothing is
// left half-done and the answer is `busy` with what holds the disk. The remove event
// that follows finds no record and nothing to do.
//
// Order, and what is undone:
//  1. holders are listed first; a process that is not in a listed service's unit, a
//     swap area, a device built on the disk (dm, md), another mount of it or a mount
//     below its mountpoint: `busy`, nothing run.
//  2. the pre-disk-detach hook; if it fails: `busy` (hook), nothing else done.
//  3. the listed services that are active are stopped; one that will not stop: the
//     stopped ones are started again, `busy` (with force: go on).
//  4. processes still on the disk: with force, those in a listed service's unit are
//     killed (by pidfd); any other one: the services are started again, `busy`.
//  5. syncfs, unmount (never lazily), fsync of the device, the record and the empty
//     mountpoint removed. EBUSY here: services started again, `busy`.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/context.hpp"
#include "core/result.hpp"

namespace guestkit::plugins::disk {

// How the platform names the disk; exactly one is set.
struct DiskSelector {
  std::string name;        // kernel name: vdb (or /dev/vdb)
  std::string serial;      // the serial the platform gave it (virtio-blk serial=...)
  std::string pci;         // its PCI address: 0000:00:07.0
  std::string label;       // the filesystem label of a disk guestkit mounted
  std::string mountpoint;  // where guestkit mounted it: /srv/data
};

// From the op's args: {"disk"|"serial"|"pci"|"label"|"mountpoint": TEXT, "force": bool}.
core::Result<std::pair<DiskSelector, bool>> parse_detach_args(const nlohmann::json& args);

// The whole disk's kernel name. Errc::bad_input when nothing or several disks match.
core::Result<std::string> resolve_disk(const core::Context& ctx, const DiskSelector& sel);

// {"state": "ready", "disk", "unmounted": [...], "services_stopped": [...], "hook"} or
// {"state": "busy", "disk", "holders": [...], "services_restarted": [...]}.
core::Result<nlohmann::json> prepare_detach(core::Context& ctx, const DiskSelector& sel,
                                            bool force);

}  // namespace guestkit::plugins::disk
