#pragma once
// Filesystem label -> mountpoint name, safely and reversibly.
//
// The label is the customer's: kept as it is wherever that is safe, so "data",
// "My Data" and "données" mount at /srv/data, "/srv/My Data", /srv/données. What could
// change the path's meaning or hide it is written as \xNN (two lowercase hex digits),
// the escape udev uses for ID_FS_LABEL_ENC:
//   * '/', '\' (the escape itself), NUL, control characters (< 0x20, 0x7f), and bytes
//     that are not valid UTF-8;
//   * a leading '.', so no label can be ".", "..", or a hidden directory.
// Decoding \xNN gives the label back, so the mapping is reversible and two different
// labels never share a name. An empty label, or one whose name would exceed 255 bytes,
// has no name (the disk then mounts under its kernel name).

#include <string>
#include <string_view>

namespace guestkit::plugins::disk {

// "" when the label cannot name a mountpoint.
std::string mountpoint_name(std::string_view label);
// Inverse of mountpoint_name.
std::string label_of_mountpoint_name(std::string_view name);

}  // namespace guestkit::plugins::disk
