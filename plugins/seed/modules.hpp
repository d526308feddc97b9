#pragma once
// Kernel modules from a seed: guestkit/modules/<release>.tar.{gz,xz} and the old
// platform's gandi/modules/<release>.tar.{gz,xz} (README.md, "Platform seeds").
//
// Only the running kernel's tarball is used (the others are reported, not applied).
// It is read with libarchive from memory (tar, with the gzip or xz filter its name
// says; no external program), in two passes: the first checks every member and
// installs nothing when one is refused (a name with '..', absolute, a link, a device,
// fifo or socket, a sparse member, a member over the cap, a file that is not a
// kernel module, a path outside /lib/modules/<release>/), the second writes the
// modules into a staging directory that then replaces the previous one in one rename.
//
// Where: /lib/modules/<release>/updates/guestkit-seed/ (under the Root), never over a
// file the distribution's packages own. depmod's default search order ("updates"
// first) makes a seed's module win over the distribution's module of the same name,
// and removing that one directory (then depmod) undoes the seed. Member names are
// taken relative to /lib/modules/<release>/ (a leading "lib/modules/<release>/" or
// "<release>/" is dropped) and must lie under kernel/, extra/ or updates/; depmod's
// own index files (modules.*) at the top are skipped, since depmod remakes them.
// Then `depmod -a [-b ROOT] <release>` runs through core's exec.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/context.hpp"
#include "core/result.hpp"

namespace guestkit::plugins::seed {

inline constexpr std::size_t kMaxModuleFileBytes = 64u << 20;   // one unpacked member
inline constexpr std::size_t kMaxModulesUnpacked = 512u << 20;  // the whole tarball unpacked
inline constexpr std::size_t kMaxModulesEntries = 20000;
// Where a seed's modules go, under /lib/modules/<release>/.
inline constexpr std::string_view kSeedModulesSubdir = "updates/guestkit-seed";

struct ModulesInstall {
  // "installed", "refused" (a member failed the checks: nothing installed), "failed"
  // (an I/O or depmod error), "would install" (dry run).
  std::string state;
  std::string message;               // for the report: what was done, or why not
  std::vector<std::string> files;    // paths under /lib/modules/<release>/, installed
  std::vector<std::string> refused;  // "NAME: why, refused"
  std::vector<std::string> skipped;  // depmod's index files in the tarball
};

// The running kernel's release (uname -r).
std::string running_release();

// The kernel release a modules member is for: "guestkit/modules/6.1.0-13-amd64.tar.xz"
// -> "6.1.0-13-amd64"; "" when `name` is not a modules tarball.
std::string modules_release(std::string_view name);

// Installs `tarball` (member `member` of a seed, for kernel `release`) as above.
ModulesInstall install_modules(const core::Context& ctx, const std::string& release,
                               const std::string& member, std::string_view tarball);

}  // namespace guestkit::plugins::seed
