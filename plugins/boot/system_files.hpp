#pragma once
// 02-check-system-files' pure parts, for tests.

#include <string>
#include <vector>

namespace guestkit::plugins::boot {

// Adds "127.0.0.1 localhost" and "::1 localhost ip6-localhost ip6-loopback" lines
// to /etc/hosts lines that map neither address to localhost. True if changed.
bool ensure_localhost(std::vector<std::string>& lines);

// The active fstab line mounting "/" names its device by kernel name (/dev/vda1,
// /dev/xvda, /dev/root): rewrite that field to UUID=<uuid>. True if changed.
bool fix_fstab_root(std::vector<std::string>& lines, const std::string& uuid);

// Whether the root entry needs fix_fstab_root.
bool fstab_root_by_device_name(const std::vector<std::string>& lines);

}  // namespace guestkit::plugins::boot
