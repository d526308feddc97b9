// Data disks: guestkit-disk links only these (and libblkid, libmount).
// Rows sorted by name; numbers are stable (users order their own plugins by them).

#include "plugins/disk/disk.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {
namespace {

constexpr BuiltinPlugin kTable[] = {
    {"10-coldplug-disks", "mount", "disk", false,
     "mount the data disks present at boot, drop records of vanished ones", &disk::coldplug_disks},
    {"10-grow-disk", "disk-change", "disk", false, "grow the filesystem of a resized data disk",
     &disk::grow_disk},
    {"10-mount-disk", "disk-add", "disk", false,
     "mount a data disk at <disk.root>/<label>, then run post-disk-attach", &disk::mount_disk},
    // 90: external disk-remove plugins numbered below run first, while the data is there.
    {"90-unmount-disk", "disk-remove", "disk", false,
     "pre-disk-detach, stop the disk's services, unmount, remove the mountpoint", &disk::unmount_disk},
};

}  // namespace

std::span<const BuiltinPlugin> disk_plugins() { return kTable; }

}  // namespace guestkit::plugins
