// Storage drivers for a late seed medium, loaded by modalias (storage_drivers.hpp).

#include "plugins/seed/storage_drivers.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::seed {
namespace {

std::string attr(const core::Root& host, const std::string& dir, const char* name) {
  auto text = sysfs::read_attr(host, dir + "/" + name, core::Follow::in_root);
  return text && *text ? std::move(**text) : std::string();
}

bool bound(const core::Root& host, const std::string& dir) {
  auto st = host.lstat(dir + "/driver");
  return st && *st;
}

// The kernel writes modaliases; still, only their alphabet reaches modprobe's argv.
bool sane_modalias(const std::string& m) {
  return !m.empty() && m.size() < 512 && m.front() != '-' &&
         std::all_of(m.begin(), m.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-' ||
                  c == '.' || c == '*';
         });
}

// Whether a device of `bus` may carry a seed medium (or lead to one).
bool storage(const core::Root& host, const std::string& bus, const std::string& dir) {
  if (bus == "pci") return attr(host, dir, "class").starts_with("0x01");
  if (bus == "virtio") {
    const std::string id = attr(host, dir, "device");
    return id == "0x0002" || id == "0x0008";  // virtio block, virtio SCSI
  }
  // SCSI: only devices (H:C:T:L), of the types disk, cdrom, optical, RBC.
  const std::string type = attr(host, dir, "type");
  return type == "0" || type == "5" || type == "7" || type == "14";
}

std::vector<std::string> command(const Modprobe& m, std::initializer_list<std::string> more) {
  std::vector<std::string> argv = m.argv;
  argv.insert(argv.end(), more);
  return argv;
}

// modprobe's messages on one line (they name the module and the cause), capped.
std::string said(const core::ExecResult& r) {
  std::string text;
  for (const auto& line : core::split_lines(r.err)) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    text += (text.empty() ? "" : "; ") + line;
  }
  if (text.size() > 400) text = text.substr(0, 400) + "...";
  return text;
}

std::string outcome(const core::ExecResult& r) {
  const std::string why = said(r);
  return r.describe() + (why.empty() ? "" : ": " + why);
}

// What kmod would do for a modalias (`modprobe -b --show-depends`, which loads nothing):
// one line per step, "insmod /lib/modules/.../x.ko [options]", "install COMMAND" or
// "builtin NAME"; no line when every module is blacklisted.
struct Plan {
  std::vector<std::string> insmod, install, builtin;
};

Plan plan(const std::string& out) {
  Plan p;
  for (const auto& line : core::split_lines(out)) {
    if (line.starts_with("insmod "))
      p.insmod.push_back(line.substr(7));
    else if (line.starts_with("install "))
      p.install.push_back(line.substr(8));
    else if (line.starts_with("builtin "))
      p.builtin.push_back(line.substr(8));
  }
  return p;
}

std::string listed(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string s;
  for (const auto& i : items) s += (s.empty() ? "" : sep) + i;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

StorageDrivers load_storage_drivers(const core::Root& host, std::chrono::milliseconds timeout,
                                    const Modprobe& modprobe) {
  StorageDrivers out;
  const auto start = std::chrono::steady_clock::now();
  std::set<std::string> tried;  // one modprobe per modalias
  for (int pass = 0; pass < 4; ++pass) {
    bool any = false;
    for (const char* bus : {"pci", "virtio", "scsi"}) {
      const std::string base = std::string(core::paths::kSysBus) + "/" + bus + "/devices";
      auto names = host.list_dir(base);
      if (!names) continue;
      for (const auto& name : *names) {
        const std::string dir = base + "/" + name;
        if (bound(host, dir) || !storage(host, bus, dir)) continue;
        const std::string alias = attr(host, dir, "modalias");
        if (!sane_modalias(alias) || !tried.insert(alias).second) continue;
        core::ExecOptions o;
        o.timeout = timeout;
        const std::string who = name + " (" + alias + ")";
        // kmod is asked what it would do (nothing is loaded yet): no module at all for
        // the modalias (exit 1) is normal, a driver built in or none for that device,
        // and nothing to report; the rest is told apart by kmod, not by guessing.
        auto asked = core::run(command(modprobe, {"-b", "--show-depends", "--", alias}), o);
        if (!asked) {
          out.problems.push_back("modprobe --show-depends " + alias + ": " +
                                 asked.error().message());
          continue;
        }
        if (asked->timed_out || asked->signal != 0 ||
            (!asked->success() && asked->exit_code != 1)) {
          out.problems.push_back("modprobe --show-depends " + alias + " " + outcome(*asked));
          continue;
        }
        if (!asked->success()) continue;
        const Plan steps = plan(asked->out);
        if (steps.insmod.empty() && steps.install.empty()) {
          if (!steps.builtin.empty()) continue;  // built in: nothing modprobe can add
          // The alias names modules, every one blacklisted: which ones, for the log.
          auto resolved = core::run(command(modprobe, {"-R", "-q", "--", alias}), o);
          const std::string which = resolved && resolved->success()
                                        ? listed(core::split_lines(resolved->out))
                                        : "its module";
          out.refused.push_back(who + ": " + which + ": blacklisted");
          continue;
        }
        // -b: the administrator's blacklist holds, as it does for udev's own loads.
        // Not -q: modprobe's reason for a refusal is what the log must say.
        auto r = core::run(command(modprobe, {"-b", "--", alias}), o);
        if (!r) {
          out.problems.push_back("modprobe " + alias + ": " + r.error().message());
          continue;
        }
        if (r->timed_out || r->signal != 0) {
          out.problems.push_back("modprobe " + alias + " " + r->describe());
          continue;
        }
        if (!r->success()) {
          out.refused.push_back(who + ": modprobe " + outcome(*r));
          continue;
        }
        if (steps.insmod.empty() && !bound(host, dir)) {
          // Only install commands ran (`install X /bin/true` is how modules are disabled).
          out.refused.push_back(who + ": its install command ran and the device has no driver (" +
                                listed(steps.install, "; ") + ")");
          continue;
        }
        any = true;
        out.loaded.push_back(who);
      }
    }
    if (!any) break;
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return out;
}

}  // namespace guestkit::plugins::seed
