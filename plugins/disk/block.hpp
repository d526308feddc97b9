#pragma once
// Facts about block devices, through the Root: sysfs (/sys/class/block), libblkid
// probing of the device node, and the device numbers that tie them to mountinfo.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::disk {

struct BlockDevice {
  std::string name;                     // vdb1
  std::string devname;                  // /dev/vdb1
  dev_t devno = 0;
  bool partition = false;
  std::string disk;                     // the whole disk: vdb (itself for a disk)
  std::vector<std::string> partitions;  // of a whole disk: vdb1, vdb2 (natural order)
  std::vector<std::string> holders;     // dm-0, md0: something is built on top of it
  std::uint64_t size_bytes = 0;
  bool read_only = false;
};

// From /sys/class/block/<name>. ENOENT when there is no such device.
core::Result<BlockDevice> read_block_device(const core::Root& root, const std::string& name);
// The whole disk a device belongs to (itself for a disk); nullopt if unknown.
std::optional<std::string> disk_of(const core::Root& root, const std::string& name);
// Kernel name of a device number via /sys/dev/block/MAJ:MIN; nullopt if unknown.
std::optional<std::string> block_name_of(const core::Root& root, dev_t devno);
// Every block device the kernel has (names only), natural order.
core::Result<std::vector<std::string>> list_block_devices(const core::Root& root);

struct Probe {
  std::string type;    // ext4, xfs, vfat, swap, ... ("" when nothing was found)
  std::string usage;   // filesystem, other (swap), raid, crypto
  std::string label;   // raw bytes, as stored
  std::string uuid;
  std::string pttype;  // gpt, dos: the device holds a partition table
  std::string ptuuid;  // of that table (a GPT disk GUID)
  // When the device is a partition: its entry in the disk's table.
  std::string part_name;  // GPT partition label
  std::string part_type;  // GPT type GUID (lower case) or MBR type (0x82)
};

// libblkid's safe probe of the device node (opened through the Root, read-only).
// A device that holds two conflicting signatures is an error (EINVAL), never a guess.
core::Result<Probe> probe_block_device(const core::Root& root, const std::string& devname);

// Filesystem size from its superblock, for ext2/3/4 and xfs (nullopt otherwise), and
// whether an ext filesystem was cleanly unmounted.
struct FsGeometry {
  std::uint64_t size_bytes = 0;
  bool clean = true;
};
std::optional<FsGeometry> read_fs_geometry(const core::Root& root, const std::string& devname,
                                           const std::string& type);

}  // namespace guestkit::plugins::disk
