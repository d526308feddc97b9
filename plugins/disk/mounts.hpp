#pragma once
// Mount state and mount actions, with libmount: the tables come from
// <root>/proc/self/mountinfo and <root>/proc/swaps (never regexes over /proc/mounts),
// and mounting goes through mnt_context.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::disk {

struct MountEntry {
  dev_t devno = 0;
  std::string source;   // /dev/vdb1
  std::string target;   // /srv/data (host path, as the kernel reports it)
  std::string fstype;
  std::string options;  // VFS and filesystem options, comma-separated
};

class MountTable {
 public:
  static core::Result<MountTable> load(const core::Root& root);

  const std::vector<MountEntry>& entries() const { return entries_; }
  std::vector<MountEntry> mounts_of(dev_t devno) const;
  std::optional<MountEntry> mounted_at(const std::string& target) const;
  // The device holding "/" (0 if unknown), and every device number used as swap.
  dev_t root_devno() const { return root_devno_; }
  bool is_swap(dev_t devno) const;

 private:
  std::vector<MountEntry> entries_;
  std::vector<dev_t> swaps_;
  dev_t root_devno_ = 0;
};

// Mounts `source` on the directory open as `target_fd` (an O_PATH fd, so the
// directory checked is the directory mounted on, whatever happens to its path).
core::Status mount_device(const std::string& source, int target_fd, const std::string& fstype,
                          const std::string& options);
// Unmounts `target` (a host path); with `lazy`, detaches a busy filesystem.
core::Status unmount(const std::string& target, bool lazy);

}  // namespace guestkit::plugins::disk
