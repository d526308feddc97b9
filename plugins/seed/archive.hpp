#pragma once
// libarchive readers over an open descriptor (pread at an offset, never the file
// position): iso9660 from byte 0, tar from kSwapSeedOffset. Internal to plugins/seed.

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed::detail {

// Size of an open block device or regular file.
core::Result<std::uint64_t> size_of_fd(int fd);

// The iso9660 filesystem on `fd`, read as layout `kind` (nocloud or configdrive).
core::Result<SeedFiles> read_iso(int fd, SourceKind kind, const std::string& origin);

struct SwapTar {
  SeedFiles files;
  std::uint64_t consumed = 0;  // bytes read from kSwapSeedOffset (whole records)
};
// The tar at kSwapSeedOffset of `fd`: nullopt when there is none, or when its first
// member is in neither the guestkit/ nor the gandi/ layout.
core::Result<std::optional<SwapTar>> read_swap_tar(int fd, const std::string& origin,
                                                   bool want_data);

}  // namespace guestkit::plugins::seed::detail
