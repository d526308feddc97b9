#pragma once
// /run/guestkit/disks/<name>: what guestkit mounted, where and when (an undo record,
// plugins/undo_record.hpp). The record is what detach works from, so a disk can be
// cleaned up after its device node is gone.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::disk {

struct DiskRecord {
  std::string name;        // kernel name: vdb1
  std::string devname;     // /dev/vdb1
  std::string devno;       // "254:17"
  // The device number its mount reports, when it is not the block device's: btrfs
  // gives each filesystem an anonymous one ("0:52"). Empty otherwise.
  std::string fs_devno;
  std::string fstype;
  std::string label;
  std::string uuid;
  std::string mountpoint;  // guest path: /srv/data
  std::string options;
  std::int64_t since = 0;  // seconds since the epoch
};

// "254:17".
std::string devno_text(dev_t devno);

// Whether a mount (its device number and source, as mountinfo gives them) is the one
// the record describes: the block device's number (ext4, xfs, vfat...), or the
// recorded anonymous number of a btrfs mount from the same device node.
bool record_mount(const DiskRecord& record, dev_t mount_devno, const std::string& mount_source);

core::Result<std::optional<DiskRecord>> read_record(const core::Root& root, const std::string& name);
core::Status write_record(const core::Root& root, const DiskRecord& record);
core::Status remove_record(const core::Root& root, const std::string& name);
// Every record, by name; unreadable ones are skipped (and named in `problems`).
core::Result<std::vector<DiskRecord>> list_records(const core::Root& root,
                                                    std::vector<std::string>* problems = nullptr);

}  // namespace guestkit::plugins::disk
