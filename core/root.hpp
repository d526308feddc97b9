#pragma once
// Root: every path guestkit touches is a *guest* path ("/etc/motd") resolved under a
// prefix ("/" in production, a temp tree in tests and image builds). Resolution walks
// one component at a time with openat(O_NOFOLLOW), so it can refuse to leave the
// prefix: ".." above the root is an error, an absolute symlink target is re-anchored
// at the root, a relative one that climbs out is an error, and callers that must not
// follow symlinks at all (a mountpoint, ~admin/.ssh) say Follow::never.

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fd.hpp"
#include "core/result.hpp"

namespace guestkit::core {

enum class Follow {
  in_root,  // follow symlinks, but only to places inside the root
  never,    // any symlink on the way (or at the end) is an error
};

class Root {
 public:
  // The prefix must name an existing directory; it is made absolute and canonical.
  static Result<Root> open(const std::filesystem::path& prefix);
  // The running system ("/").
  static Root host();

  const std::filesystem::path& prefix() const noexcept { return prefix_; }
  // True when the prefix is "/": only then may guestkit act on the live system
  // (mount, start services, touch the network).
  bool is_host() const noexcept { return prefix_ == "/"; }

  // Lexical normalisation of a guest path: must be absolute, no NUL; "//" and "."
  // collapse; ".." pops a component and is an error above "/". No filesystem access.
  static Result<std::string> normalize(std::string_view guest);

  // Host path of a guest path, lexically (no symlinks resolved). For messages and for
  // tools that take a path argument; prefer open()/open_parent() for I/O.
  Result<std::filesystem::path> host_path(std::string_view guest) const;
  // Same, for display only: never fails (falls back to the raw text).
  std::string display(std::string_view guest) const;

  // Resolves symlinks inside the root and returns the *guest* path of the object.
  // The last component need not exist unless must_exist.
  Result<std::string> resolve(std::string_view guest, Follow follow = Follow::in_root,
                              bool must_exist = false) const;

  // open(2) inside the root. O_CLOEXEC is always added. With Follow::in_root a
  // symlink at the end is followed inside the root; with Follow::never it fails with
  // Errc::symlink_refused (also for O_CREAT: a planted link is never written through).
  Result<UniqueFd> open(std::string_view guest, int flags, mode_t mode = 0,
                        Follow follow = Follow::in_root) const;

  // The parent directory of a guest path (chased per `follow`), opened O_PATH, and the
  // last component, for *at() calls that must act on the name itself (rename, unlink,
  // mkdir, symlink checks). The leaf is never followed.
  struct Parent {
    UniqueFd dir;           // O_PATH|O_DIRECTORY
    std::string leaf;       // last component, never "." or ".."
    std::string guest_dir;  // resolved guest path of dir
  };
  Result<Parent> open_parent(std::string_view guest, Follow follow = Follow::in_root) const;

  // mkdir -p inside the root. Created directories get `mode` (before umask); existing
  // components are followed per `follow`. Returns the final directory, O_PATH.
  Result<UniqueFd> mkdirs(std::string_view guest, mode_t mode = 0755,
                          Follow follow = Follow::in_root) const;

  // lstat (never follows the last component) / stat (follows per `follow`).
  // std::nullopt when the object does not exist.
  Result<std::optional<struct stat>> lstat(std::string_view guest) const;
  Result<std::optional<struct stat>> stat(std::string_view guest,
                                          Follow follow = Follow::in_root) const;

  // Names in a directory (no "." / ".."), sorted bytewise. Empty when it does not exist.
  Result<std::vector<std::string>> list_dir(std::string_view guest,
                                            Follow follow = Follow::in_root) const;

  // Target of a symlink, verbatim (not resolved).
  Result<std::string> read_link(std::string_view guest) const;

 private:
  Root(std::filesystem::path prefix, std::shared_ptr<UniqueFd> fd)
      : prefix_(std::move(prefix)), fd_(std::move(fd)) {}
  struct Walk;
  Result<Walk> walk_parent(std::string_view guest, Follow follow) const;

  std::filesystem::path prefix_;
  std::shared_ptr<UniqueFd> fd_;  // O_PATH|O_DIRECTORY on the prefix
};

}  // namespace guestkit::core
