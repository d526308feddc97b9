// What guestkit-disk --coldplug and 10-coldplug-disks (boot "mount" stage) run, and
// guestkit-disk --status.

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <ostream>

#include "core/cli.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/disk/disk.hpp"
#include "plugins/disk/records.hpp"

namespace guestkit::plugins::disk {
namespace {

// A device of the root disk, as 05-mark-root-disk (bootstrap) marked it this boot:
// its disk-add would only probe it to refuse it ("on the root disk"), 150-330 ms of a
// TCG guest's one vCPU in the mount stage, beside sshd's start (bench/README.md,
// seed-first-boot). The mark is read where the stage runs (a --root has none unless
// its /run says so); a device without one is examined as before.
bool marked_root_disk(const core::Root& root, const std::string& name) {
  auto st = root.lstat(std::string(core::paths::kRootDiskMarkDir) + "/" + name);
  return st && *st && S_ISREG((*st)->st_mode);
}

}  // namespace

core::Result<std::vector<EventRun>> coldplug_events(const core::Context& ctx) {
  std::vector<EventRun> events;
  auto event = [](std::string trigger, const std::string& name) {
    return EventRun{std::move(trigger), name, "disk-" + name, &disk_plugins};
  };
  // Records whose device is gone (or is now another device): cleaned up first, so
  // their mountpoints are free again.
  std::vector<std::string> problems;
  auto records = list_records(ctx.root, &problems);
  if (!records) return std::move(records).error();
  for (const auto& p : problems) core::log_warning("coldplug: ", p, ", ignoring");
  std::vector<std::string> removed;
  for (const auto& rec : *records) {
    auto dev = read_block_device(ctx.root, rec.name);
    std::string devno = dev ? std::to_string(major(dev->devno)) + ":" + std::to_string(minor(dev->devno)) : "";
    if (dev && devno == rec.devno) continue;
    core::log_notice(rec.name, ": device is gone, detaching ", rec.mountpoint);
    events.push_back(event("disk-remove", rec.name));
    removed.push_back(rec.name);
  }

  auto names = list_block_devices(ctx.root);
  if (!names) return std::move(names).error();
  for (const auto& name : *names) {
    auto dev = read_block_device(ctx.root, name);
    // Unselected devices and empty ones (a loop or cdrom without medium) need no
    // plugin run at all: coldplug stays one cheap pass over sysfs for them.
    if (!dev || dev->size_bytes == 0 || !selected(ctx.config, name, dev->disk)) continue;
    // Partitions arrive as devices of their own; the disk itself adds nothing.
    if (!dev->partitions.empty()) continue;
    if (marked_root_disk(ctx.root, name)) continue;
    // Already ours (a second coldplug, or a hotplug won), unless the record is the
    // vanished device's, removed above: then the new device with its name is added
    // once that remove succeeded (run_events skips it otherwise).
    auto rec = read_record(ctx.root, name);
    if (rec && *rec && std::find(removed.begin(), removed.end(), name) == removed.end()) continue;
    events.push_back(event("disk-add", name));
  }
  return events;
}

int status(core::Context& ctx) {
  std::vector<std::string> problems;
  auto records = list_records(ctx.root, &problems);
  if (!records) {
    // Once: with --log-stderr the log line already is the stderr line.
    core::log_error(records.error().message());
    if (core::log_sink() != core::LogSink::stderr_stream)
      std::cerr << records.error().message() << "\n";
    return core::kExitFailed;
  }
  auto mounts = MountTable::load(ctx.root);
  auto& os = ctx.output();
  os << std::left << std::setw(12) << "DEVICE" << std::setw(16) << "LABEL" << std::setw(8) << "FSTYPE"
     << std::setw(9) << "STATE" << std::setw(21) << "SINCE" << "MOUNTPOINT\n";
  for (const auto& r : *records) {
    auto host = ctx.root.host_path(r.mountpoint);
    // Mounted means our disk is there: another filesystem mounted over the same path
    // since (the admin's) leaves our record stale.
    auto at = mounts && host ? mounts->mounted_at(host->string()) : std::nullopt;
    bool mounted = at && record_mount(r, at->devno, at->source);
    char since[32] = "-";
    std::time_t t = static_cast<std::time_t>(r.since);
    if (std::tm tm{}; r.since > 0 && ::localtime_r(&t, &tm)) std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", &tm);
    os << std::setw(12) << r.name << std::setw(16) << (r.label.empty() ? "-" : r.label) << std::setw(8)
       << r.fstype << std::setw(9) << (mounted ? "mounted" : "stale") << std::setw(21) << since
       << ctx.root.display(r.mountpoint) << "\n";
  }
  if (records->empty()) os << "(no data disk is mounted by guestkit)\n";
  for (const auto& p : problems) os << "unreadable record: " << p << "\n";
  return problems.empty() ? core::kExitOk : core::kExitPartial;
}

// 10-coldplug-disks (boot stage "mount"): every data disk present at boot, as
// guestkit-disk --coldplug does (replaces gandi-mount). The runner runs the events
// (its record says which failed); the plugin only finds them.
core::Result<Outcome> coldplug_disks(PluginContext& p) {
  auto events = coldplug_events(p.ctx);
  if (!events) return std::move(events).error();
  p.events = std::move(events).value();
  // `changed` whatever the events do, as in 0.1.0 (the boot report reads the same);
  // each event's own record says what it did.
  return Outcome::changed;
}

}  // namespace guestkit::plugins::disk
