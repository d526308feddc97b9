#pragma once
// Device helpers shared by the readers and discovery. Internal to plugins/seed.

#include <string>

#include "core/fd.hpp"
#include "core/result.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed::detail {

struct DeviceProbe {
  std::string type;    // iso9660, vfat, swap, ext4, "" (nothing found)
  std::string label;   // raw bytes
  std::string pttype;  // gpt, dos, ""
};
// libblkid's safe probe of an open device.
core::Result<DeviceProbe> probe_fd(int fd, const std::string& origin);
// Opens a block device (or an image file) read-only, O_NONBLOCK (no medium wait).
core::Result<core::UniqueFd> open_device(const std::string& device);
// The fixed members of `kind` from a FAT filesystem, through mtools.
core::Result<SeedFiles> read_vfat(int fd, const std::string& device, SourceKind kind);

}  // namespace guestkit::plugins::seed::detail
