#pragma once
// libarchive readers over an open descriptor (pread at an offset, never the file
// position): iso9660 from byte 0, tar from kSwapSeedOffset. Internal to plugins/seed.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed::detail {

// The most an iso9660 seed may declare as its volume (volume space size x logical block
// size, in every primary and supplementary volume descriptor). A seed ISO holds a few
// whitelisted members of at most 1 MiB each; 32 MiB leaves room for what else a
// generator puts there (Rock Ridge, Joliet, a config drive's other versions) while
// bounding what libarchive may buffer (check_iso_bounds).
inline constexpr std::uint64_t kMaxIsoVolumeBytes = 32u << 20;

// Size of an open block device or regular file.
core::Result<std::uint64_t> size_of_fd(int fd);

// Refuses, before libarchive sees it, an iso9660 image on `fd` (`size` bytes) whose
// volume descriptors declare more than the medium holds or more than
// kMaxIsoVolumeBytes, or a root directory outside that volume. libarchive 3.6 sizes
// its read-ahead buffer from these fields and allocates it before reading a byte (a
// crafted root directory of 4 GiB made it malloc 6 GiB), so no read callback can
// bound it; every later directory read it bounds itself by the declared volume size.
// Bytes that are no iso9660 pass (libarchive then refuses them).
core::Status check_iso_bounds(int fd, std::uint64_t size, const std::string& origin);

// The iso9660 filesystem on `fd`, read as layout `kind` (nocloud or configdrive), after
// check_iso_bounds.
core::Result<SeedFiles> read_iso(int fd, SourceKind kind, const std::string& origin);

struct SwapTar {
  SeedFiles files;
  std::uint64_t consumed = 0;  // bytes read from kSwapSeedOffset (whole records)
};
// The tar at kSwapSeedOffset of `fd`: nullopt when there is none, or when its first
// member is in neither the guestkit/ nor the gandi/ layout.
core::Result<std::optional<SwapTar>> read_swap_tar(int fd, const std::string& origin,
                                                   bool want_data);

// Why a member of this libarchive type (archive_entry_filetype) is refused, for a
// member neither a regular file nor a directory: "a symbolic link", "a fifo"... The
// seed readers and the kernel-modules installer name refusals alike.
const char* member_kind(mode_t type);

}  // namespace guestkit::plugins::seed::detail
