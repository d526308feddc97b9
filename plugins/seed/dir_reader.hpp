#pragma once
// A seed laid out in a plain directory (guestkit-seed --dir, tests): the known member
// names only, each a regular file read without following symlinks, size-capped.
// The kind follows the layout: guestkit/ (in-swap, guestkit), gandi/ (in-swap, old
// platform), openstack/ (ConfigDrive), else NoCloud.

#include <string>

#include "core/result.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed {

inline constexpr std::size_t kDirMemberLimit = 1u << 20;  // per file
inline constexpr std::size_t kDirTotalLimit = 16u << 20;

// `dir` is a host path. Members that are not regular files, or too big, go to
// `refused` with why; Errc::bad_input when the directory holds no seed at all.
core::Result<SeedFiles> read_seed_dir_simple(const std::string& dir);

}  // namespace guestkit::plugins::seed
