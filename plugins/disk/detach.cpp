// disk-remove: pre-disk-detach, stop the disk's services, unmount, clean up. Works
// from the record alone, so it also cleans up after a disk whose node is gone.

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <chrono>
#include <thread>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/disk/disk.hpp"
#include "plugins/disk/records.hpp"
#include "plugins/external.hpp"

namespace guestkit::plugins::disk {
namespace {

constexpr int kUnmountTries = 3;
constexpr auto kUnmountPause = std::chrono::milliseconds(200);
constexpr auto kServiceTimeout = std::chrono::seconds(90);

// A service name from the disk's own file: the disk is the customer's, so the name
// is validated before it reaches systemctl or /etc/init.d.
bool valid_service(const std::string& s) {
  if (s.empty() || s.size() > 128 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '@' || c == '.' || c == '_' || c == ':' || c == '-')) return false;
  return s.find("..") == std::string::npos;
}

void stop_services(core::Context& ctx, const DiskRecord& rec) {
  // On the data disk itself: never follow a link placed there.
  auto text = core::read_file_if_exists(ctx.root, rec.mountpoint + "/.guestkit/services", 64 * 1024,
                                        core::Follow::never);
  if (!text) {
    core::log_warning(rec.name, ": ", text.error().message(), ", not stopping services");
    return;
  }
  if (!*text) return;
  auto systemd = ctx.root.stat(core::paths::kSystemdRunDir);
  const bool under_systemd = systemd && *systemd;
  for (auto line : core::split_lines(**text)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty() || line[0] == '#') continue;
    if (!valid_service(line)) {
      core::log_warning(rec.name, ": service name '", line, "' in .guestkit/services is not valid, ignoring");
      continue;
    }
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
    if (!live(ctx)) {
      std::string cmd;
      for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
      ctx.would("stop service " + line + " (" + cmd + ")");
      continue;
    }
    core::ExecOptions eo;
    eo.timeout = kServiceTimeout;
    auto r = core::run(argv, eo);
    if (!r || !r->success())
      core::log_warning(rec.name, ": stopping ", line, " failed: ", r ? r->describe() : r.error().message());
    else
      core::log_info(rec.name, ": stopped ", line);
  }
}

core::Status unmount_record(const DiskRecord& rec, const std::string& host_target) {
  core::Status last;
  for (int i = 0; i < kUnmountTries; ++i) {
    last = unmount(host_target, false);
    if (last || last.error().code != std::errc::device_or_resource_busy) break;
    std::this_thread::sleep_for(kUnmountPause);
  }
  if (last) return last;
  if (last.error().code != std::errc::device_or_resource_busy) return last;
  // Still busy: the device is going away whatever we do; detach the mount so the
  // path does not keep pointing at a dead disk, and say so.
  core::log_warning(rec.name, ": ", host_target, " is busy, detaching it lazily (processes still use it)");
  return unmount(host_target, true);
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
  auto mounts = MountTable::load(ctx.root);
  if (!mounts) return std::move(mounts).error();
  const bool mounted = mounts->mounted_at(host->string()).has_value();

  if (mounted) {
    if (auto h = run_hook(ctx, "pre-disk-detach", {rec.devname, host->string()}); !h)
      core::log_warning(name, ": ", h.error().message());
    stop_services(ctx, rec);
  }
  if (!live(ctx)) {
    if (mounted) ctx.would("unmount " + host->string());
    ctx.would("remove " + host->string() + " if empty, and the record of " + name);
    return Outcome::changed;
  }
  if (mounted) {
    if (auto u = unmount_record(rec, host->string()); !u) return std::move(u).error();
    core::log_notice(name, ": unmounted ", host->string());
  }
  // The empty directory we made goes too; anything left in it stays (it is data).
  auto parent = ctx.root.open_parent(rec.mountpoint, core::Follow::never);
  if (parent && ::unlinkat(parent->dir.get(), parent->leaf.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
    core::log_info(name, ": leaving ", host->string(), " in place: ", std::strerror(errno));
  if (auto r = remove_record(ctx.root, name); !r) return std::move(r).error();
  return Outcome::changed;
}

}  // namespace guestkit::plugins::disk
