#pragma once
// Mount state and mount actions, with libmount: the tables come from
// <root>/proc/self/mountinfo and <root>/proc/swaps (never regexes over /proc/mounts),
// and mounting goes through mnt_context.

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::disk {

struct MountEntry {
  int id = 0;  // the kernel's mount id (statx STATX_MNT_ID)
  dev_t devno = 0;
  std::string source;   // /dev/vdb1
  // The device number of the source's node, when it is one (0 otherwise): btrfs
  // mounts report an anonymous `devno`, their source is still the disk.
  dev_t source_rdev = 0;
  std::string target;   // /srv/data (host path, as the kernel reports it)
  std::string fstype;
  std::string options;  // VFS and filesystem options, comma-separated
};

class MountTable {
 public:
  static core::Result<MountTable> load(const core::Root& root);

  const std::vector<MountEntry>& entries() const { return entries_; }
  // Mounts of a block device: by the mount's device number or by its source node.
  std::vector<MountEntry> mounts_of(dev_t devno) const;
  std::optional<MountEntry> mounted_at(const std::string& target) const;
  std::optional<MountEntry> by_id(int id) const;
  // The device holding "/" (0 if unknown), and every device number used as swap.
  dev_t root_devno() const { return root_devno_; }
  bool is_swap(dev_t devno) const;

 private:
  std::vector<MountEntry> entries_;
  std::vector<dev_t> swaps_;
  dev_t root_devno_ = 0;
};

// The path mount_device gives libmount for the directory open as `dir_fd`:
// /proc/self/fd/N/. ("." after the magic link, so the link is followed as a directory
// on every path: libmount >= 2.39, as in Debian 13, attaches with move_mount(2), which
// does not follow a final symlink, and /proc/self/fd/N alone failed there with ENOENT).
std::string mount_target(int dir_fd);

// Mounts `source` on the directory open as `target_fd` (an O_PATH fd, so the
// directory checked is the directory mounted on, whatever happens to its path).
core::Status mount_device(const std::string& source, int target_fd, const std::string& fstype,
                          const std::string& options);

// What the name `leaf` in the directory `parent_fd` shows now, through that descriptor
// (never a path lookup from "/"): a mount's root, or a plain directory or file of the
// filesystem it is in.
struct MountRoot {
  bool is_mount_root = false;  // something is mounted on the name
  // Device number of what is seen there (stat's st_dev). For btrfs that of the
  // subvolume, which is not the mount's number in mountinfo.
  dev_t devno = 0;
  ino_t ino = 0;
  int mount_id = 0;  // 0 when the kernel does not tell (before Linux 5.8)
  // The same object, seen twice: what unmount_at checks right before unmounting.
  bool same_as(const MountRoot& o) const {
    return is_mount_root == o.is_mount_root && devno == o.devno && ino == o.ino &&
           mount_id == o.mount_id;
  }
};
// The decision from statx of the name and of its parent directory, pure: with
// STATX_MNT_ID and STATX_ATTR_MOUNT_ROOT (Linux 5.8) the kernel says; before, a
// directory on another device than its parent is a mount root (a bind mount from the
// same filesystem is not told apart, and none of our disks is one).
MountRoot interpret_statx(const struct statx& name, const struct statx& parent);
// std::nullopt when the name does not exist. A symlink is reported as itself (never a
// mount root).
core::Result<std::optional<MountRoot>> mount_root_at(int parent_fd, const std::string& leaf);

// Unmounts the mount on `leaf` in `parent_fd`, but only while it is still `seen`
// (checked right before, through the same descriptor). The kernel has no unmount by
// mount id, and a descriptor on the mount itself keeps it busy, so the target is
// "/proc/self/fd/PARENT/LEAF" with UMOUNT_NOFOLLOW: the parent is the directory we
// hold, the leaf is never followed if it is a symlink. With `lazy`, detaches a busy
// filesystem. Errc::failed when another mount is there now.
core::Status unmount_at(int parent_fd, const std::string& leaf, const MountRoot& seen, bool lazy);

}  // namespace guestkit::plugins::disk
