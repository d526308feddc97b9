// disk-add and disk-change: examine, pick a mountpoint, fsck, mount, grow, record,
// post-disk-attach.

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "core/exec.hpp"
#include "core/lock.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/users.hpp"
#include "plugins/disk/disk.hpp"
#include "plugins/disk/label.hpp"
#include "plugins/disk/records.hpp"
#include "plugins/external.hpp"
#include "plugins/seed/discover.hpp"

namespace guestkit::plugins::disk {
namespace {

// Choosing a mountpoint and mounting on it is one step for all disks: two disks with
// the same label attached at once must not both take the empty /srv/data.
constexpr const char* kMountpointLock = "disk-mountpoints";
constexpr auto kLockWait = std::chrono::seconds(60);
constexpr int kMaxSuffix = 99;
// Smaller differences are partial blocks resize2fs/xfs_growfs cannot use anyway.
constexpr std::uint64_t kGrowThreshold = 1u << 20;

bool glob_any(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

bool is_ext(const std::string& type) { return type == "ext2" || type == "ext3" || type == "ext4"; }

// Filesystems without Unix ownership take it as mount options.
bool foreign_fs(const std::string& type) {
  return type == "vfat" || type == "exfat" || type == "ntfs" || type == "ntfs3" || type == "msdos";
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

struct Ids {
  uid_t uid;
  gid_t gid;
};

core::Result<Ids> owner_ids(const core::Context& ctx) {
  auto uid = core::lookup_uid(ctx.root, ctx.config.disk.owner);
  if (!uid) return std::move(uid).error();
  auto gid = core::lookup_gid(ctx.root, ctx.config.disk.group);
  if (!gid) return std::move(gid).error();
  return Ids{*uid, *gid};
}

std::string mount_options(const core::Context& ctx, const Examined& ex, const Ids& ids) {
  std::string opts = ctx.config.disk.mount_options;
  auto add = [&](const std::string& o) { opts += (opts.empty() ? "" : ",") + o; };
  if (foreign_fs(ex.probe.type)) {
    const unsigned mode = ctx.config.disk.mode & 0777;
    char masks[64];
    std::snprintf(masks, sizeof masks, "dmask=%03o,fmask=%03o", ~mode & 0777, (~mode & 0777) | 0111);
    add("uid=" + std::to_string(ids.uid) + ",gid=" + std::to_string(ids.gid) + "," + masks);
  }
  if (ex.dev.read_only) add("ro");
  return opts;
}

struct Mountpoint {
  std::string path;  // guest path
  core::UniqueFd fd; // O_PATH on the directory
  bool created = false;
};

// Under the mountpoint lock: the first of BASE, BASE_2, ... that is free. Free means
// a directory we create now, or an existing empty directory that is not a mountpoint
// and not a symlink. Anything else is never used.
core::Result<Mountpoint> choose_mountpoint(const core::Context& ctx, const MountTable& mounts,
                                           const std::string& base, const Ids& ids) {
  const auto& root = ctx.root;
  // disk.root itself may be a link inside the image (/srv -> /var/srv); below it, none.
  auto made = root.mkdirs(ctx.config.disk.root, 0755, core::Follow::in_root);
  if (!made) return std::move(made).error();
  auto top = root.resolve(ctx.config.disk.root, core::Follow::in_root, true);
  if (!top) return std::move(top).error();
  auto top_st = root.stat(*top);
  if (!top_st || !*top_st) return core::make_error(core::Errc::failed, "cannot stat " + root.display(*top));

  for (int i = 1; i <= kMaxSuffix; ++i) {
    const std::string path = join(*top, i == 1 ? base : base + "_" + std::to_string(i));
    auto st = root.lstat(path);
    if (!st) return std::move(st).error();
    if (!*st) {
      auto parent = root.open_parent(path, core::Follow::never);
      if (!parent) return std::move(parent).error();
      if (::mkdirat(parent->dir.get(), parent->leaf.c_str(), 0700) < 0) {
        if (errno == EEXIST) continue;  // raced by something not holding our lock
        return core::errno_error("mkdir " + root.display(path));
      }
      int fd = ::openat(parent->dir.get(), parent->leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return core::errno_error("open " + root.display(path));
      core::UniqueFd dir(fd);
      // Owner and mode before anyone can see it; 0700 until then.
      if (::fchown(dir.get(), ids.uid, ids.gid) < 0 || ::fchmod(dir.get(), ctx.config.disk.mode) < 0)
        return core::errno_error("set owner and mode of " + root.display(path));
      int pfd = ::openat(parent->dir.get(), parent->leaf.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (pfd < 0) return core::errno_error("open " + root.display(path));
      return Mountpoint{path, core::UniqueFd(pfd), true};
    }
    const auto& s = **st;
    if (S_ISLNK(s.st_mode)) {
      core::log_warning(root.display(path), " is a symbolic link, never a mountpoint; trying the next name");
      continue;
    }
    if (!S_ISDIR(s.st_mode)) continue;
    auto host = root.host_path(path);
    if (s.st_dev != (*top_st)->st_dev || (host && mounts.mounted_at(host->string()))) continue;  // in use
    auto entries = root.list_dir(path, core::Follow::never);
    if (!entries) return std::move(entries).error();
    if (!entries->empty()) {
      core::log_info(root.display(path), " is not empty, trying the next name");
      continue;
    }
    auto fd = root.open(path, O_PATH | O_DIRECTORY, 0, core::Follow::never);
    if (!fd) return std::move(fd).error();
    return Mountpoint{path, std::move(fd).value(), false};
  }
  return core::make_error(core::Errc::failed, "no free mountpoint for '" + base + "' under " +
                                                  root.display(*top) + " (tried " + std::to_string(kMaxSuffix) + " names)");
}

// e2fsck and the grow tools: on the live system only, each bounded by disk.tool_timeout.
core::Result<core::ExecResult> run_disk_tool(const core::Context& ctx,
                                             const std::vector<std::string>& argv,
                                             bool failure_is_error) {
  core::ToolOptions o;
  o.timeout = ctx.config.disk.tool_timeout;
  o.failure_is_error = failure_is_error;
  return core::run_tool(ctx, core::ToolEffect::changes_live, argv, o);
}

// e2fsck -p exit codes: 0 clean, 1 fixed, 2 fixed and wants a reboot (not for a data
// disk), 4 and up: errors left or fsck failed. Only a disk fsck could fix is mounted.
core::Status fsck_if_needed(core::Context& ctx, const Examined& ex) {
  if (!ctx.config.disk.fsck || !is_ext(ex.probe.type) || ex.dev.partition) return {};
  auto geo = read_fs_geometry(ctx.root, ex.dev.devname, ex.probe.type);
  if (!geo || geo->clean) return {};
  core::log_notice(ex.dev.name, ": filesystem was not cleanly unmounted: e2fsck -p first");
  const std::vector<std::string> argv{"e2fsck", "-p", ex.dev.devname};
  auto r = run_disk_tool(ctx, argv, false);
  if (!r) return std::move(r).error();
  if (r->timed_out || r->signal || r->exit_code >= 4) {
    auto error = core::tool_error(argv, *r);
    error.context += ": filesystem errors left, not mounting";
    return error;
  }
  return {};
}

// Grows the filesystem of a mounted device when the device is bigger. resize2fs runs
// online (after the mount): offline it would first demand a full e2fsck -f.
core::Result<bool> grow_mounted(core::Context& ctx, const BlockDevice& dev, const std::string& type,
                                const std::string& mountpoint) {
  if (!ctx.config.disk.grow) return false;
  auto geo = read_fs_geometry(ctx.root, dev.devname, type);
  if (!geo || dev.size_bytes < geo->size_bytes + kGrowThreshold) return false;
  std::vector<std::string> argv;
  if (is_ext(type)) argv = {"resize2fs", dev.devname};
  else if (type == "xfs") argv = {"xfs_growfs", ctx.root.display(mountpoint)};
  else return false;
  // Whether it grew is the filesystem's own answer, not the superblock guess above.
  auto fs_bytes = [&]() -> std::uint64_t {
    struct statvfs sv {};
    auto host = ctx.root.host_path(mountpoint);
    return host && ::statvfs(host->c_str(), &sv) == 0 ? std::uint64_t{sv.f_blocks} * sv.f_frsize : 0;
  };
  const auto before = fs_bytes();
  auto r = run_disk_tool(ctx, argv, true);
  if (!r) return std::move(r).error();
  if (r->dry_run) return true;
  const auto after = fs_bytes();
  if (after <= before) return false;
  core::log_info(dev.name, ": grew the ", type, " filesystem from ", before >> 20, " to ", after >> 20, " MiB");
  return true;
}

// The mounted filesystem's root takes the configured owner and mode only while it is
// pristine (as mkfs left it: root-owned, nothing but lost+found), so a customer's own
// chown on /srv/data survives every later attach.
void adopt_fs_root(const core::Context& ctx, const std::string& mountpoint, const Ids& ids,
                   const std::string& type) {
  if (foreign_fs(type)) return;  // ownership came with the mount options
  auto fd = ctx.root.open(mountpoint, O_RDONLY | O_DIRECTORY, 0, core::Follow::never);
  if (!fd) return;
  struct stat st {};
  if (::fstat(fd->get(), &st) < 0 || st.st_uid != 0 || st.st_gid != 0) return;
  auto entries = ctx.root.list_dir(mountpoint, core::Follow::never);
  if (!entries || entries->size() > 1 || (entries->size() == 1 && entries->front() != "lost+found")) return;
  if (::fchown(fd->get(), ids.uid, ids.gid) < 0 || ::fchmod(fd->get(), ctx.config.disk.mode) < 0)
    core::log_debug(mountpoint, ": cannot set owner and mode, ignoring");
}

core::Result<Outcome> attach_one(core::Context& ctx, const MountTable& mounts, const Examined& ex) {
  const std::string& name = ex.dev.name;
  if (!ex.skip.empty()) {
    core::log_info(name, ": ", ex.skip, ", ignoring");
    return Outcome::skipped;
  }
  auto record = read_record(ctx.root, name);
  if (!record) return std::move(record).error();
  auto mounted = mounts.mounts_of(ex.dev.devno);
  if (*record) {
    auto host = ctx.root.host_path((*record)->mountpoint);
    auto at = host ? mounts.mounted_at(host->string()) : std::nullopt;
    bool ours = (*record)->devno == devno_text(ex.dev.devno) && at &&
                record_mount(**record, at->devno, at->source);
    if (ours) return Outcome::unchanged;  // the same event again: nothing to do
    core::log_notice(name, ": record of ", (*record)->mountpoint, " is stale, dropping it");
    if (live(ctx)) (void)remove_record(ctx.root, name);
  }
  if (!mounted.empty()) {
    core::log_info(name, ": already mounted at ", mounted.front().target, " (not by guestkit), ignoring");
    return Outcome::skipped;
  }

  auto ids = owner_ids(ctx);
  if (!ids) return std::move(ids).error();
  if (auto f = fsck_if_needed(ctx, ex); !f) return std::move(f).error();
  const std::string options = mount_options(ctx, ex, *ids);
  const std::string base = mountpoint_base(ex.probe, name);

  if (!live(ctx)) {
    ctx.would("mount " + ctx.root.display(ex.dev.devname) + " (" + ex.probe.type + ") at " +
              ctx.root.display(ctx.config.disk.root + "/" + base) + " with " + options);
    if (!find_hook(ctx.root, ctx.config, "post-disk-attach").empty())
      ctx.would("run hook post-disk-attach " + ex.dev.devname + " " + ex.probe.type + " " +
                ctx.config.disk.root + "/" + base);
    return Outcome::changed;
  }

  std::string where;
  // From the mount to its record, a stop (the disk unplugged while this add runs:
  // systemd stops the unit and runs the remove) waits: killed in between, the disk
  // would stay mounted with no record for the remove to find.
  std::optional<core::TerminationDeferred> until_recorded;
  {
    auto lock = core::Lock::acquire(ctx.root, kMountpointLock, kLockWait);
    if (!lock) return std::move(lock).error();
    auto mp = choose_mountpoint(ctx, mounts, base, *ids);
    if (!mp) return std::move(mp).error();
    until_recorded.emplace();
    if (auto m = mount_device(ex.dev.devname, mp->fd.get(), ex.probe.type, options); !m) {
      if (mp->created) {
        auto parent = ctx.root.open_parent(mp->path, core::Follow::never);
        if (parent) ::unlinkat(parent->dir.get(), parent->leaf.c_str(), AT_REMOVEDIR);
      }
      return std::move(m).error();
    }
    where = mp->path;
  }
  core::log_notice(name, ": mounted ", ex.probe.type, " '", ex.probe.label, "' at ", ctx.root.display(where));
  adopt_fs_root(ctx, where, *ids, ex.probe.type);

  DiskRecord rec{name,
                 ex.dev.devname,
                 devno_text(ex.dev.devno),
                 "",
                 ex.probe.type,
                 ex.probe.label,
                 ex.probe.uuid,
                 where,
                 options,
                 std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count()};
  // The number mountinfo gives the mount (btrfs: an anonymous one), which is what
  // detach and a replayed add find at the mountpoint.
  if (auto now = MountTable::load(ctx.root); now) {
    auto host = ctx.root.host_path(where);
    auto at = host ? now->mounted_at(host->string()) : std::nullopt;
    if (at && at->devno != ex.dev.devno) rec.fs_devno = devno_text(at->devno);
  }
  if (auto w = write_record(ctx.root, rec); !w) return std::move(w).error();
  until_recorded.reset();

  if (auto g = grow_mounted(ctx, ex.dev, ex.probe.type, where); !g)
    core::log_warning(name, ": ", g.error().message(), ", ignoring");
  // A failed hook fails the plugin (exit 1, partial), as every hook does; the disk
  // stays mounted and recorded, so a replayed event does not run the hook again.
  if (auto h = run_hook(ctx, "post-disk-attach", {ex.dev.devname, ex.probe.type, ctx.root.display(where)}); !h)
    return core::make_error(core::Errc::failed, "mounted at " + ctx.root.display(where) + ", but " +
                                                    h.error().message());
  return Outcome::changed;
}

}  // namespace

bool selected(const core::Config& config, const std::string& name, const std::string& disk_name) {
  if (!glob_any(config.disk.match, name) && !glob_any(config.disk.match, disk_name)) return false;
  return !glob_any(config.disk.ignore, name) && !glob_any(config.disk.ignore, disk_name);
}

std::string mountpoint_base(const Probe& probe, const std::string& name) {
  std::string base = mountpoint_name(probe.label);
  return base.empty() ? name : base;
}

core::Result<Examined> examine(const core::Context& ctx, const MountTable& mounts, const std::string& name) {
  Examined ex;
  auto dev = read_block_device(ctx.root, name);
  if (!dev) return std::move(dev).error();
  ex.dev = std::move(dev).value();
  auto skip = [&](std::string why) -> core::Result<Examined> {
    ex.skip = std::move(why);
    return std::move(ex);
  };
  if (!selected(ctx.config, name, ex.dev.disk)) return skip("not selected by disk.match / disk.ignore");

  // Never the disk holding "/" (nor any partition of it).
  if (auto root_name = block_name_of(ctx.root, mounts.root_devno())) {
    auto root_disk = disk_of(ctx.root, *root_name);
    if (ex.dev.devno == mounts.root_devno() || (root_disk && *root_disk == ex.dev.disk))
      return skip("on the root disk");
  }
  if (ex.dev.size_bytes == 0) return skip("no medium (size 0)");
  if (mounts.is_swap(ex.dev.devno)) return skip("in use as swap");
  if (!ex.dev.holders.empty()) return skip("in use by " + ex.dev.holders.front() + " (md, dm or LVM)");
  if (!ex.dev.partitions.empty()) {
    ex.partitions = ex.dev.partitions;
    return ex;
  }
  auto probe = probe_block_device(ctx.root, ex.dev.devname);
  if (!probe) return std::move(probe).error();
  ex.probe = std::move(probe).value();
  // The platform's seed media hold secrets and are read (never mounted) by plugins/seed.
  if (auto why = seed::seed_device_reason(ex.probe.label, ex.probe.part_name); !why.empty())
    return skip(why + ", never mounted");
  if (ex.probe.type.empty() && !ex.probe.pttype.empty()) return skip("partition table without partitions");
  if (ex.probe.type.empty()) return skip("no filesystem");
  if (ex.probe.type == "swap") return skip("holds swap");
  if (ex.probe.usage != "filesystem") return skip("holds " + ex.probe.type + " (" + ex.probe.usage + "), not a filesystem");
  return ex;
}

core::Result<Outcome> attach(core::Context& ctx, const std::string& name) {
  auto mounts = MountTable::load(ctx.root);
  if (!mounts) return std::move(mounts).error();
  auto ex = examine(ctx, *mounts, name);
  if (!ex) return std::move(ex).error();
  if (ex->partitions.empty()) return attach_one(ctx, *mounts, *ex);

  // A partitioned disk: each partition on its own, under the partition's own lock (its
  // own udev event may be handling it right now).
  Outcome outcome = Outcome::unchanged;
  std::string failures;
  for (const auto& part : ex->partitions) {
    std::optional<core::Lock> lock;
    if (!ctx.dry_run) {
      auto l = core::Lock::acquire(ctx.root, "disk-" + part, kLockWait);
      if (!l) return std::move(l).error();
      lock = std::move(l).value();
    }
    auto fresh = MountTable::load(ctx.root);
    if (!fresh) return std::move(fresh).error();
    auto pex = examine(ctx, *fresh, part);
    auto r = pex ? attach_one(ctx, *fresh, *pex) : core::Result<Outcome>(pex.error());
    if (!r) failures += (failures.empty() ? "" : "; ") + part + ": " + r.error().message();
    else if (*r == Outcome::changed) outcome = Outcome::changed;
  }
  if (!failures.empty()) return core::make_error(core::Errc::failed, failures);
  return outcome;
}

core::Result<Outcome> grow(core::Context& ctx, const std::string& name) {
  auto record = read_record(ctx.root, name);
  if (!record) return std::move(record).error();
  if (!*record) {
    core::log_info(name, ": not mounted by guestkit, nothing to grow");
    return Outcome::skipped;
  }
  auto dev = read_block_device(ctx.root, name);
  if (!dev) return std::move(dev).error();
  auto g = grow_mounted(ctx, *dev, (*record)->fstype, (*record)->mountpoint);
  if (!g) return std::move(g).error();
  return *g ? Outcome::changed : Outcome::unchanged;
}

// 10-mount-disk (disk-add): mount a data disk at <disk.root>/<label>.
core::Result<Outcome> mount_disk(PluginContext& p) {
  if (p.args.empty()) return core::make_error(core::Errc::bad_input, "no device given");
  return attach(p.ctx, p.args.front());
}

// 10-grow-disk (disk-change): grow the filesystem of a resized disk.
core::Result<Outcome> grow_disk(PluginContext& p) {
  if (p.args.empty()) return core::make_error(core::Errc::bad_input, "no device given");
  return grow(p.ctx, p.args.front());
}

}  // namespace guestkit::plugins::disk
