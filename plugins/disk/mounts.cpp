#include "plugins/disk/mounts.hpp"

#include <fcntl.h>
#include <libmount.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <memory>

// Older C libraries lack the Linux 5.8 names; the kernel ignores what it does not know.
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

#include "core/paths.hpp"

namespace guestkit::plugins::disk {
namespace {

using Table = std::unique_ptr<libmnt_table, decltype(&mnt_unref_table)>;
using Context = std::unique_ptr<libmnt_context, decltype(&mnt_free_context)>;

std::string str(const char* s) { return s ? s : ""; }

// libmount reports failures as negative errno or as a mount(8)-style exit code; its
// own message is the most precise text there is.
core::Error context_error(libmnt_context* cxt, int rc, const std::string& what) {
  char buf[BUFSIZ] = {};
  mnt_context_get_excode(cxt, rc, buf, sizeof buf);
  int err = mnt_context_syscall_called(cxt) ? mnt_context_get_syscall_errno(cxt) : (rc < 0 ? -rc : EIO);
  std::string detail = buf[0] ? std::string(": ") + buf : "";
  return core::errno_error(what + detail, err ? err : EIO);
}

}  // namespace

core::Result<MountTable> MountTable::load(const core::Root& root) {
  MountTable t;
  auto mountinfo = root.host_path(core::paths::kMountinfo);
  if (!mountinfo) return std::move(mountinfo).error();
  Table tb(mnt_new_table(), &mnt_unref_table);
  if (!tb) return core::errno_error("mnt_new_table");
  if (int rc = mnt_table_parse_file(tb.get(), mountinfo->c_str()); rc != 0)
    return core::errno_error("parse " + mountinfo->string(), rc < 0 ? -rc : EIO);
  libmnt_iter* it = mnt_new_iter(MNT_ITER_FORWARD);
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(tb.get(), it, &fs) == 0) {
    MountEntry e{mnt_fs_get_id(fs),
                 mnt_fs_get_devno(fs),
                 str(mnt_fs_get_source(fs)),
                 0,
                 str(mnt_fs_get_target(fs)),
                 str(mnt_fs_get_fstype(fs)),
                 ""};
    if (e.source.rfind(core::paths::kDevPrefix, 0) == 0) {
      // The node inside the root; one that is gone (a pulled disk) stays unknown.
      auto st = root.stat(e.source);
      if (st && *st && S_ISBLK((*st)->st_mode)) e.source_rdev = (*st)->st_rdev;
    }
    // VFS options (ro, nosuid...) and the filesystem's own, as mount(8) shows them.
    std::unique_ptr<char, decltype(&free)> opts(mnt_fs_strdup_options(fs), &free);
    e.options = str(opts.get());
    // The last "/" mounted wins, as in the kernel's own view.
    if (e.target == "/") t.root_devno_ = e.devno;
    t.entries_.push_back(std::move(e));
  }
  mnt_free_iter(it);

  auto swaps = root.host_path(core::paths::kSwaps);
  Table sw(mnt_new_table(), &mnt_unref_table);
  if (swaps && sw && ::access(swaps->c_str(), R_OK) == 0 &&
      mnt_table_parse_swaps(sw.get(), swaps->c_str()) == 0) {
    libmnt_iter* si = mnt_new_iter(MNT_ITER_FORWARD);
    while (mnt_table_next_fs(sw.get(), si, &fs) == 0) {
      // /proc/swaps names device nodes: stat them (inside the root) for the number.
      auto st = root.stat(str(mnt_fs_get_source(fs)));
      if (st && *st && S_ISBLK((*st)->st_mode)) t.swaps_.push_back((*st)->st_rdev);
    }
    mnt_free_iter(si);
  }
  return t;
}

std::vector<MountEntry> MountTable::mounts_of(dev_t devno) const {
  std::vector<MountEntry> out;
  for (const auto& e : entries_)
    if (e.devno == devno || e.source_rdev == devno) out.push_back(e);
  return out;
}

std::optional<MountEntry> MountTable::mounted_at(const std::string& target) const {
  std::optional<MountEntry> found;
  for (const auto& e : entries_)
    if (e.target == target) found = e;  // the last one is what the path shows
  return found;
}

std::optional<MountEntry> MountTable::by_id(int id) const {
  for (const auto& e : entries_)
    if (e.id == id) return e;
  return std::nullopt;
}

bool MountTable::is_swap(dev_t devno) const {
  for (dev_t d : swaps_)
    if (d == devno) return true;
  return false;
}

std::string mount_target(int dir_fd) {
  return std::string(core::paths::kProcDir) + "/self/fd/" + std::to_string(dir_fd) + "/.";
}

core::Status mount_device(const std::string& source, int target_fd, const std::string& fstype,
                          const std::string& options) {
  Context cxt(mnt_new_context(), &mnt_free_context);
  if (!cxt) return core::errno_error("mnt_new_context");
  const std::string target = mount_target(target_fd);
  // The target is a magic link to the exact directory we checked: canonicalizing it
  // would turn it back into a path someone could swap a symlink into.
  mnt_context_disable_canonicalize(cxt.get(), 1);
  // No /sbin/mount.TYPE helpers (foreign code run as root) and no utab bookkeeping.
  mnt_context_disable_helpers(cxt.get(), 1);
  mnt_context_disable_mtab(cxt.get(), 1);
  mnt_context_set_source(cxt.get(), source.c_str());
  mnt_context_set_target(cxt.get(), target.c_str());
  if (!fstype.empty()) mnt_context_set_fstype(cxt.get(), fstype.c_str());
  if (!options.empty()) mnt_context_set_options(cxt.get(), options.c_str());
  int rc = mnt_context_mount(cxt.get());
  if (rc != 0 || mnt_context_get_status(cxt.get()) != 1)
    return context_error(cxt.get(), rc, "mount " + source);
  return {};
}

MountRoot interpret_statx(const struct statx& name, const struct statx& parent) {
  MountRoot m;
  m.devno = makedev(name.stx_dev_major, name.stx_dev_minor);
  m.ino = name.stx_ino;
  const bool dir = S_ISDIR(name.stx_mode);
  if ((name.stx_mask & STATX_MNT_ID) && (name.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
    m.mount_id = static_cast<int>(name.stx_mnt_id);
    m.is_mount_root = dir && (name.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  } else {
    m.is_mount_root = dir && (name.stx_dev_major != parent.stx_dev_major ||
                              name.stx_dev_minor != parent.stx_dev_minor);
  }
  return m;
}

core::Result<std::optional<MountRoot>> mount_root_at(int parent_fd, const std::string& leaf) {
  constexpr unsigned kWant = STATX_TYPE | STATX_INO | STATX_MNT_ID;
  struct statx name {
  }, parent{};
  // AT_SYMLINK_NOFOLLOW: a symlink planted at the name is looked at, never through.
  // The lookup of the name crosses into whatever is mounted on it, like a path would.
  if (::statx(parent_fd, leaf.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, kWant, &name) < 0) {
    if (errno == ENOENT) return std::optional<MountRoot>{};
    return core::errno_error("statx " + leaf);
  }
  if (::statx(parent_fd, "", AT_EMPTY_PATH, kWant, &parent) < 0)
    return core::errno_error("statx of the directory of " + leaf);
  return std::optional<MountRoot>(interpret_statx(name, parent));
}

core::Status unmount_at(int parent_fd, const std::string& leaf, const MountRoot& seen, bool lazy) {
  auto now = mount_root_at(parent_fd, leaf);
  if (!now) return std::move(now).error();
  if (!*now || !(*now)->is_mount_root || !(*now)->same_as(seen))
    return core::make_error(core::Errc::failed,
                            leaf + ": the mount checked before is no longer there, not unmounting");
  const std::string target =
      std::string(core::paths::kProcDir) + "/self/fd/" + std::to_string(parent_fd) + "/" + leaf;
  if (::umount2(target.c_str(), UMOUNT_NOFOLLOW | (lazy ? MNT_DETACH : 0)) < 0)
    return core::errno_error(std::string(lazy ? "detach " : "unmount ") + leaf);
  return {};
}

}  // namespace guestkit::plugins::disk
