// disk-remove: pre-disk-detach, stop the disk's services, unmount, clean up. Works
// from the record alone, so it also cleans up after a disk whose node is gone.
//
// The recorded mountpoint is only a name: the admin may have unmounted our disk and
// mounted another one there since. Everything is done to the mount found at that name
// only when its device number is the record's, and the mount is looked at and
// unmounted through the descriptor of its parent directory, never by a path lookup.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/disk/disk.hpp"
#include "plugins/disk/records.hpp"
#include "plugins/disk/services.hpp"
#include "plugins/external.hpp"

namespace guestkit::plugins::disk {
namespace {

constexpr int kUnmountTries = 3;
constexpr auto kUnmountPause = std::chrono::milliseconds(200);
constexpr auto kServiceTimeout = std::chrono::seconds(90);

void stop_services(core::Context& ctx, const DiskRecord& rec, int mount_fd) {
  auto text = read_services(mount_fd);
  if (!text) {
    core::log_warning(rec.name, ": ", text.error().message(), ", not stopping services");
    return;
  }
  if (!*text) return;
  auto systemd = ctx.root.stat(core::paths::kSystemdRunDir);
  const bool under_systemd = systemd && *systemd;
  for (const auto& line : listed_services(rec.name, **text)) {
    std::vector<std::string> argv;
    if (under_systemd) {
      argv = {"systemctl", "stop", "--", line};
    } else {
      const std::string script = std::string(core::paths::kInitdDir) + "/" + line;
      if (auto problem = executable_problem(ctx.root, script); !problem.empty()) {
        core::log_warning(rec.name, ": service ", line, ": ", script, " ", problem, ", ignoring");
        continue;
      }
      argv = {ctx.root.display(script), "stop"};
    }
    core::ToolOptions o;
    o.timeout = kServiceTimeout;
    auto r = core::run_tool(ctx, core::ToolEffect::changes_live, argv, o);
    if (!r)
      core::log_warning(rec.name, ": stopping ", line, " failed: ", r.error().message());
    else if (!r->dry_run)
      core::log_info(rec.name, ": stopped ", line);
  }
}

core::Status unmount_record(const DiskRecord& rec, const core::Root::Parent& at,
                            const MountRoot& seen, const std::string& shown) {
  core::Status last;
  for (int i = 0; i < kUnmountTries; ++i) {
    last = unmount_at(at.dir.get(), at.leaf, seen, false);
    if (last || last.error().code != std::errc::device_or_resource_busy) break;
    std::this_thread::sleep_for(kUnmountPause);
  }
  if (last) return last;
  if (last.error().code != std::errc::device_or_resource_busy) return last;
  // Still busy: the device is going away whatever we do; detach the mount so the
  // path does not keep pointing at a dead disk, and say so.
  core::log_warning(rec.name, ": ", shown,
                    " is busy, detaching it lazily (processes still use it)");
  return unmount_at(at.dir.get(), at.leaf, seen, true);
}

// What the recorded mountpoint holds, for the log: "ext4 /dev/vdc (254:32)".
std::string describe_mount(const std::optional<MountEntry>& e, dev_t devno) {
  if (!e) return devno_text(devno);
  return e->fstype + " " + e->source + " (" + devno_text(devno) + ")";
}

// Drops the record and the empty directory we made; anything left in it stays (data).
core::Result<Outcome> forget(core::Context& ctx, const DiskRecord& rec, const std::string& shown,
                             bool remove_dir) {
  if (!live(ctx)) {
    ctx.would(std::string(remove_dir ? "remove " + shown + " if empty, and " : "remove ") +
              "the record of " + rec.name);
    return Outcome::changed;
  }
  if (remove_dir) {
    auto parent = ctx.root.open_parent(rec.mountpoint, core::Follow::never);
    if (parent && ::unlinkat(parent->dir.get(), parent->leaf.c_str(), AT_REMOVEDIR) < 0 &&
        errno != ENOENT)
      core::log_info(rec.name, ": leaving ", shown, " in place: ", std::strerror(errno));
  }
  if (auto r = remove_record(ctx.root, rec.name); !r) return std::move(r).error();
  return Outcome::changed;
}

// --root DIR: the tree's mountinfo is all there is to look at; nothing live happens.
core::Result<Outcome> detach_offline(core::Context& ctx, const DiskRecord& rec,
                                     const std::string& shown) {
  auto mounts = MountTable::load(ctx.root);
  if (!mounts) return std::move(mounts).error();
  auto at = mounts->mounted_at(shown);
  if (at && record_mount(rec, at->devno, at->source)) {
    ctx.would("run hook pre-disk-detach " + rec.devname + " " + shown + " (if present)");
    ctx.would("stop the services listed in " + shown + "/.guestkit/services");
    ctx.would("unmount " + shown);
  } else if (at) {
    ctx.would("leave " + shown + " mounted: it holds " + at->source + " (" + devno_text(at->devno) +
              "), not " + rec.devno + " of the record");
    return forget(ctx, rec, shown, false);
  }
  return forget(ctx, rec, shown, true);
}

}  // namespace

core::Result<Outcome> detach(core::Context& ctx, const std::string& name) {
  auto record = read_record(ctx.root, name);
  if (!record) return std::move(record).error();
  if (!*record) {
    core::log_info(name, ": not mounted by guestkit, nothing to detach");
    return Outcome::unchanged;
  }
  const DiskRecord& rec = **record;
  auto host = ctx.root.host_path(rec.mountpoint);
  if (!host) return std::move(host).error();
  const std::string shown = host->string();
  if (!ctx.root.is_host()) return detach_offline(ctx, rec, shown);

  // The parent is reached without following any symlink; everything below goes
  // through its descriptor and the leaf name, which is never followed either.
  auto parent = ctx.root.open_parent(rec.mountpoint, core::Follow::never);
  if (!parent) {
    if (parent.error().code != std::errc::no_such_file_or_directory)
      return std::move(parent).error();
    core::log_info(name, ": ", shown, " is gone, dropping the record");
    return forget(ctx, rec, shown, false);
  }
  auto seen = mount_root_at(parent->dir.get(), parent->leaf);
  if (!seen) return std::move(seen).error();
  if (!*seen || !(*seen)->is_mount_root) {
    core::log_info(name, ": nothing is mounted at ", shown, " any more, dropping the record");
    return forget(ctx, rec, shown, true);
  }
  const MountRoot m = **seen;
  // The mount's entry, by its id, gives its device number and source as mountinfo has
  // them, as in the record (btrfs: an anonymous number, where stat shows the
  // subvolume's); the block device's number otherwise, the same as stat's.
  // (A kernel before 5.8 gives no mount id: the last mount mountinfo has at that path
  // is the one seen there, as the lookup crossed into the top one.)
  auto table = MountTable::load(ctx.root);
  const auto entry = !table       ? std::nullopt
                     : m.mount_id ? table->by_id(m.mount_id)
                                  : table->mounted_at(shown);
  const dev_t devno = entry ? entry->devno : m.devno;
  if (!record_mount(rec, devno, entry ? entry->source : "")) {
    // Not ours: the admin unmounted our disk and mounted another here. Its hook, its
    // services and its mount are none of this event's business.
    core::log_notice(name, ": ", shown, " now holds ", describe_mount(entry, devno),
                     ", not the recorded ", rec.devno.empty() ? "device" : rec.devno,
                     ": leaving it mounted, running no hook, dropping the stale record");
    return forget(ctx, rec, shown, false);
  }

  std::optional<core::Error> hook_failed;
  {
    // The mount's root, checked to be the one just seen; closed before unmounting,
    // since an open descriptor keeps the filesystem busy.
    core::UniqueFd root_fd(::openat(parent->dir.get(), parent->leaf.c_str(),
                                    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root_fd) return core::errno_error("open " + shown);
    auto again = mount_root_at(parent->dir.get(), parent->leaf);
    struct stat st {};
    if (!again || !*again || !(*again)->same_as(m) || ::fstat(root_fd.get(), &st) < 0 ||
        st.st_dev != m.devno || st.st_ino != m.ino)
      return core::make_error(core::Errc::failed,
                              shown + " changed while being looked at, not detaching");
    if (auto h = run_hook(ctx, "pre-disk-detach", {rec.devname, shown}); !h) {
      // Logged by the runner as the plugin's failure, after the detach is done: the
      // disk goes away whatever the hook says.
      core::log_debug(name, ": ", h.error().message());
      hook_failed = h.error();
    }
    stop_services(ctx, rec, root_fd.get());
  }
  if (!live(ctx)) {
    ctx.would("unmount " + shown);
    return forget(ctx, rec, shown, true);
  }
  if (auto u = unmount_record(rec, *parent, m, shown); !u) {
    // unmount_at names the leaf only: say which mountpoint.
    std::string why = shown + ": " + u.error().message();
    if (hook_failed) why += "; " + hook_failed->message();
    return core::make_error(u.error().code, why);
  }
  core::log_notice(name, ": unmounted ", shown);
  auto done = forget(ctx, rec, shown, true);
  if (!done) return done;
  if (hook_failed) return *hook_failed;
  return done;
}

// 90-unmount-disk (disk-remove): hooks, services, unmount, clean up.
core::Result<Outcome> unmount_disk(PluginContext& p) {
  if (p.args.empty()) return core::make_error(core::Errc::bad_input, "no device given");
  return detach(p.ctx, p.args.front());
}

}  // namespace guestkit::plugins::disk
