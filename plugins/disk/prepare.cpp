// prepare-detach: see prepare.hpp.

#include "plugins/disk/prepare.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/lock.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/process.hpp"
#include "core/udev_event.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/disk/disk.hpp"
#include "plugins/disk/holders.hpp"
#include "plugins/disk/mounts.hpp"
#include "plugins/disk/records.hpp"
#include "plugins/disk/services.hpp"
#include "plugins/external.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::disk {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kLockTimeout = std::chrono::seconds(60);
constexpr auto kServiceTimeout = std::chrono::seconds(90);
constexpr int kUnmountTries = 3;
constexpr auto kUnmountPause = std::chrono::milliseconds(200);
constexpr auto kKillWait = std::chrono::seconds(5);

core::Error bad(std::string m) {
  return core::make_error(core::Errc::bad_input, std::move(m));
}

bool valid_pci(const std::string& s) {
  // 0000:00:07.0
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 4 || i == 7 || i == 10) continue;
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return s[11] >= '0' && s[11] <= '7';
}

std::optional<dev_t> parse_devno(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  unsigned a = 0, b = 0;
  auto r1 = std::from_chars(text.data(), text.data() + colon, a);
  auto r2 = std::from_chars(text.data() + colon + 1, text.data() + text.size(), b);
  if (r1.ec != std::errc{} || r2.ec != std::errc{}) return std::nullopt;
  return makedev(a, b);
}

std::vector<std::string> whole_disks(const core::Root& root) {
  std::vector<std::string> out;
  auto names = list_block_devices(root);
  if (!names) return out;
  for (const auto& n : *names)
    if (auto d = disk_of(root, n); d && *d == n) out.push_back(n);
  return out;
}

std::string one_of(const std::vector<std::string>& found, const std::string& what) {
  (void)what;
  return found.front();
}

core::Result<std::string> pick(std::vector<std::string> found, const std::string& what) {
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  if (found.empty()) return bad("no disk has " + what);
  if (found.size() > 1) {
    std::string names;
    for (const auto& f : found) names += (names.empty() ? "" : ", ") + f;
    return bad(what + " matches several disks (" + names + ")");
  }
  return one_of(found, what);
}

std::string disk_of_record(const core::Root& root, const DiskRecord& r) {
  if (auto d = disk_of(root, r.name)) return *d;
  // The node is gone: a partition's name is its disk's and a number (vdb1, nvme0n1p1).
  std::string n = r.name;
  while (!n.empty() && std::isdigit(static_cast<unsigned char>(n.back()))) n.pop_back();
  if (n.size() > 1 && n.back() == 'p' && std::isdigit(static_cast<unsigned char>(n[n.size() - 2])))
    n.pop_back();
  return n.empty() ? r.name : n;
}

struct Mounted {
  DiskRecord rec;
  std::string shown;  // host path of the mountpoint
  std::optional<core::Root::Parent> parent;
  MountRoot seen;
  core::UniqueFd root_fd;  // the mount's root, O_PATH
  std::vector<std::string> services;
};

json process_json(const ProcessHolder& p) {
  json j = {{"type", "process"}, {"pid", p.pid}, {"comm", p.comm},
            {"user", p.user},    {"uid", p.uid}, {"uses", p.uses}};
  if (!p.unit.empty()) j["unit"] = p.unit;
  return j;
}

// "nginx" names nginx.service: the unit name a process's cgroup shows.
std::string unit_name(const std::string& service) {
  return service.find('.') == std::string::npos ? service + ".service" : service;
}

bool in_services(const std::vector<Mounted>& mounted, const std::string& unit) {
  if (unit.empty()) return false;
  for (const auto& m : mounted)
    for (const auto& s : m.services)
      if (unit_name(s) == unit) return true;
  return false;
}

core::Result<core::ExecResult> service(const core::Context& ctx, const std::string& name,
                                       ServiceAction action) {
  auto argv = service_argv(ctx, name, action);
  if (!argv) return std::move(argv).error();
  core::ToolOptions o;
  o.timeout = kServiceTimeout;
  o.failure_is_error = false;  // is-active's "no", and a failed stop, are answers here
  return core::run_tool(*argv, o);
}

}  // namespace

core::Result<std::pair<DiskSelector, bool>> parse_detach_args(const json& args) {
  if (!args.is_object()) return bad("args must be an object");
  DiskSelector sel;
  bool force = false;
  int given = 0;
  for (const auto& [key, value] : args.items()) {
    if (key == "force") {
      if (!value.is_boolean()) return bad("force: must be true or false");
      force = value.get<bool>();
      continue;
    }
    std::string* field = key == "disk"         ? &sel.name
                         : key == "serial"     ? &sel.serial
                         : key == "pci"        ? &sel.pci
                         : key == "label"      ? &sel.label
                         : key == "mountpoint" ? &sel.mountpoint
                                               : nullptr;
    if (!field) return bad(key.substr(0, 64) + ": unknown field");
    if (!value.is_string() || value.get<std::string>().empty() ||
        value.get<std::string>().size() > 256)
      return bad(key + ": want a non-empty string of at most 256 bytes");
    *field = value.get<std::string>();
    for (unsigned char c : *field)
      if (c < 0x20 || c == 0x7f) return bad(key + ": control characters are not allowed");
    ++given;
  }
  if (given != 1) return bad("name the disk by one of disk, serial, pci, label, mountpoint");
  if (!sel.pci.empty() && !valid_pci(sel.pci))
    return bad("pci: want a PCI address like 0000:00:07.0");
  return std::pair{sel, force};
}

core::Result<std::string> resolve_disk(const core::Context& ctx, const DiskSelector& sel) {
  const core::Root& root = ctx.root;
  if (!sel.name.empty()) {
    std::string n = sel.name;
    if (const std::string_view dev = core::paths::kDevPrefix; n.starts_with(dev))
      n.erase(0, dev.size());
    auto checked = core::check_kernel_name(n);
    if (!checked) return std::move(checked).error();
    if (auto d = disk_of(root, *checked)) return *d;
    auto rec = read_record(root, *checked);
    if (rec && *rec) return disk_of_record(root, **rec);
    std::vector<std::string> found;
    if (auto recs = list_records(root))
      for (const auto& r : *recs)
        if (disk_of_record(root, r) == *checked) found.push_back(*checked);
    return pick(found, "the name " + *checked);
  }
  std::vector<std::string> found;
  if (!sel.serial.empty() || !sel.pci.empty()) {
    for (const auto& d : whole_disks(root)) {
      const std::string base = std::string(core::paths::kSysClassBlock) + "/" + d;
      if (!sel.serial.empty()) {
        for (const char* attr : {"/serial", "/device/serial"}) {
          auto text = sysfs::read_attr(root, base + attr, core::Follow::in_root);
          if (text && *text && **text == sel.serial) {
            found.push_back(d);
            break;
          }
        }
      } else {
        auto link = root.read_link(base);
        if (link && (*link + "/").find("/" + sel.pci + "/") != std::string::npos)
          found.push_back(d);
      }
    }
    return pick(found, sel.serial.empty() ? "PCI address " + sel.pci
                                          : "serial '" + core::sanitize_for_log(sel.serial) + "'");
  }
  auto recs = list_records(root);
  if (!recs) return std::move(recs).error();
  for (const auto& r : *recs)
    if ((!sel.label.empty() && r.label == sel.label) ||
        (!sel.mountpoint.empty() && r.mountpoint == sel.mountpoint))
      found.push_back(disk_of_record(root, r));
  return pick(found, sel.label.empty() ? "mountpoint " + core::sanitize_for_log(sel.mountpoint)
                                       : "label '" + core::sanitize_for_log(sel.label) + "'");
}

core::Result<json> prepare_detach(core::Context& ctx, const DiskSelector& sel, bool force) {
  const auto start = Clock::now();
  auto disk = resolve_disk(ctx, sel);
  if (!disk) return std::move(disk).error();
  const core::Root& root = ctx.root;

  // The disk's devices: itself and its partitions, from sysfs and from the records.
  std::set<std::string> devices{*disk};
  auto bd = read_block_device(root, *disk);
  if (bd) devices.insert(bd->partitions.begin(), bd->partitions.end());
  auto all = list_records(root);
  if (!all) return std::move(all).error();
  std::vector<DiskRecord> records;
  for (const auto& r : *all)
    if (devices.count(r.name) || disk_of_record(root, r) == *disk) {
      records.push_back(r);
      devices.insert(r.name);
    }

  // The same locks as guestkit-disk's events for these devices: a remove event
  // waits for us, and we for an attach in progress.
  std::vector<core::Lock> locks;
  for (const auto& name : devices) {
    auto lock = core::Lock::acquire(root, "disk-" + name, kLockTimeout);
    if (!lock) return std::move(lock).error();
    locks.push_back(std::move(lock).value());
  }

  std::vector<dev_t> devnos;
  json holders = json::array();
  for (const auto& name : devices) {
    auto b = read_block_device(root, name);
    if (!b) continue;
    devnos.push_back(b->devno);
    for (const auto& h : b->holders)
      holders.push_back({{"type", "holder"}, {"device", h}, {"of", name}});
  }
  for (const auto& r : records)
    for (const auto* t : {&r.devno, &r.fs_devno})
      if (auto d = parse_devno(*t);
          d && std::find(devnos.begin(), devnos.end(), *d) == devnos.end())
        devnos.push_back(*d);

  auto table = MountTable::load(root);
  if (!table) return std::move(table).error();
  for (const auto& name : devices)
    if (auto b = read_block_device(root, name); b && table->is_swap(b->devno))
      holders.push_back({{"type", "swap"}, {"device", b->devname}});

  // Which recorded mounts are still there, checked as disk-remove checks them.
  std::vector<Mounted> mounted;
  std::vector<DiskRecord> stale;  // recorded, nothing of ours mounted there any more
  for (const auto& r : records) {
    Mounted m;
    m.rec = r;
    auto host = root.host_path(r.mountpoint);
    if (!host) return std::move(host).error();
    m.shown = host->string();
    auto parent = root.open_parent(r.mountpoint, core::Follow::never);
    if (!parent) {
      stale.push_back(r);
      continue;
    }
    auto seen = mount_root_at(parent->dir.get(), parent->leaf);
    if (!seen || !*seen || !(*seen)->is_mount_root) {
      stale.push_back(r);
      continue;
    }
    const auto entry =
        (*seen)->mount_id ? table->by_id((*seen)->mount_id) : table->mounted_at(m.shown);
    const dev_t devno = entry ? entry->devno : (*seen)->devno;
    if (!record_mount(r, devno, entry ? entry->source : "")) {
      stale.push_back(r);
      continue;
    }
    m.seen = **seen;
    m.root_fd = core::UniqueFd(::openat(parent->dir.get(), parent->leaf.c_str(),
                                        O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!m.root_fd) return core::errno_error("open " + m.shown);
    m.parent.emplace(std::move(parent).value());
    if (auto text = read_services(m.root_fd.get()); text && *text)
      m.services = listed_services(r.name, **text);
    mounted.push_back(std::move(m));
  }
  const auto recorded_target = [&](const MountEntry& e) {
    for (const auto& m : mounted)
      if (e.target == m.shown && record_mount(m.rec, e.devno, e.source)) return true;
    return false;
  };
  for (const auto& e : table->entries()) {
    const bool ours =
        std::find(devnos.begin(), devnos.end(), e.devno) != devnos.end() ||
        (e.source_rdev && std::find(devnos.begin(), devnos.end(), e.source_rdev) != devnos.end());
    if (ours && !recorded_target(e)) {
      holders.push_back({{"type", "mount"}, {"target", e.target}, {"source", e.source}});
      continue;
    }
    if (ours) continue;
    for (const auto& m : mounted)
      if (e.target.starts_with(m.shown + "/"))
        holders.push_back(
            {{"type", "mount"}, {"target", e.target}, {"source", e.source}, {"below", m.shown}});
  }

  json result = {{"disk", *disk}};
  const auto busy = [&](json h, const std::vector<std::string>& restarted) {
    result["state"] = "busy";
    result["holders"] = std::move(h);
    if (!restarted.empty()) result["services_restarted"] = restarted;
    result["duration_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return result;
  };

  // 1. Anything that no listed service explains: nothing is run.
  const auto procs = find_process_holders(root, devnos);
  bool blocked = !holders.empty();
  for (const auto& p : procs) {
    if (!in_services(mounted, p.unit)) blocked = true;
    holders.push_back(process_json(p));
  }
  if (blocked) return busy(holders, {});

  if (!live(ctx)) {
    for (const auto& m : mounted) {
      ctx.would("run hook pre-disk-detach " + m.rec.devname + " " + m.shown + " (if present)");
      for (const auto& s : m.services) ctx.would("stop service " + s);
      ctx.would("unmount " + m.shown + " and remove the record of " + m.rec.name);
    }
    for (const auto& r : stale) ctx.would("remove the stale record of " + r.name);
    result["state"] = "ready";
    result["dry_run"] = true;
    return result;
  }

  // 2. The hooks.
  json hooks = json::array();
  for (const auto& m : mounted) {
    auto h = run_hook(ctx, "pre-disk-detach", {m.rec.devname, m.shown});
    if (!h)
      return busy(
          json::array(
              {{{"type", "hook"}, {"name", "pre-disk-detach"}, {"message", h.error().message()}}}),
          {});
    if (*h) hooks.push_back(m.shown);
  }

  // 3. The services that run now are stopped (and only those are started again).
  std::vector<std::string> stopped;
  const auto restore = [&]() {
    std::vector<std::string> restarted;
    for (auto it = stopped.rbegin(); it != stopped.rend(); ++it) {
      auto r = service(ctx, *it, ServiceAction::start);
      if (r && r->success()) {
        restarted.push_back(*it);
      } else {
        core::log_warning(*disk, ": starting ", *it,
                          " again failed: ", r ? r->describe() : r.error().message());
      }
    }
    return restarted;
  };
  for (const auto& m : mounted) {
    for (const auto& s : m.services) {
      auto active = service(ctx, s, ServiceAction::is_active);
      if (!active || !active->success()) continue;
      auto r = service(ctx, s, ServiceAction::stop);
      if (r && r->success()) {
        stopped.push_back(s);
        core::log_info(*disk, ": stopped ", s);
        continue;
      }
      const std::string why = r ? r->describe() : r.error().message();
      if (force) {
        core::log_warning(*disk, ": stopping ", s, " failed: ", why, ", going on (force)");
        continue;
      }
      return busy(json::array({{{"type", "service"}, {"name", s}, {"message", "stop " + why}}}),
                  restore());
    }
    ::syncfs(m.root_fd.get());
  }

  // 4. What is still on the disk now.
  auto left = find_process_holders(root, devnos);
  if (!left.empty()) {
    bool others = false;
    for (const auto& p : left) others = others || !in_services(mounted, p.unit);
    if (others || !force) {
      json h = json::array();
      for (const auto& p : left) h.push_back(process_json(p));
      return busy(h, restore());
    }
    for (const auto& p : left) {  // force, and every one is a listed service's
      auto proc = core::Process::open(p.pid);
      if (!proc) continue;
      auto comm = proc->comm();
      if (!comm || *comm != p.comm) continue;
      core::log_notice(*disk, ": killing pid ", p.pid, " (", p.comm, ") of ", p.unit, " (force)");
      if (proc->signal(SIGKILL)) proc->wait_exit(kKillWait);
    }
    left = find_process_holders(root, devnos);
    if (!left.empty()) {
      json h = json::array();
      for (const auto& p : left) h.push_back(process_json(p));
      return busy(h, restore());
    }
  }

  // 5. Unmount (never lazily: a lazy unmount is exactly the lost data this op avoids).
  json unmounted = json::array();
  for (auto& m : mounted) {
    m.root_fd.reset();  // an open descriptor keeps the filesystem busy
    core::Status u;
    for (int i = 0; i < kUnmountTries; ++i) {
      u = unmount_at(m.parent->dir.get(), m.parent->leaf, m.seen, false);
      if (u || u.error().code != std::errc::device_or_resource_busy) break;
      std::this_thread::sleep_for(kUnmountPause);
    }
    if (!u) {
      if (u.error().code == std::errc::device_or_resource_busy) {
        json h = json::array();
        for (const auto& p : find_process_holders(root, devnos)) h.push_back(process_json(p));
        if (h.empty())
          h.push_back({{"type", "mount"}, {"target", m.shown}, {"message", "unmount: busy"}});
        result["unmounted"] = unmounted;
        return busy(h, restore());
      }
      return core::make_error(u.error().code, m.shown + ": " + u.error().message());
    }
    core::log_notice(m.rec.name, ": unmounted ", m.shown, " (prepare-detach)");
    unmounted.push_back(m.shown);
    if (auto dev = root.open(m.rec.devname, O_RDONLY | O_NONBLOCK); dev) ::fsync(dev->get());
    if (::unlinkat(m.parent->dir.get(), m.parent->leaf.c_str(), AT_REMOVEDIR) < 0 &&
        errno != ENOENT)
      core::log_info(m.rec.name, ": leaving ", m.shown, " in place: ", std::strerror(errno));
    if (auto r = remove_record(root, m.rec.name); !r) return std::move(r).error();
  }
  for (const auto& r : stale)
    if (auto ok = remove_record(root, r.name); !ok) return std::move(ok).error();
  result["state"] = "ready";
  result["unmounted"] = unmounted;
  result["services_stopped"] = stopped;
  result["hooks"] = hooks;
  result["duration_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return result;
}

}  // namespace guestkit::plugins::disk
